/* watch(fd, callback): an FdWatcher, a libuv poll handle owned by a JS object of one class. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <uv.h>

#include "addon.h"
#include "addon_napi.h"

static const napi_type_tag watcher_tag = {0x6861746368657279ULL, 0x7761746368657231ULL};

struct watcher {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;   /* strong until close */
  /* Strong until close(): a dropped, unclosed watcher must never be closed
   * by GC, because closing a uv_poll removes its fd number from epoll, and by
   * then that number may belong to someone else. */
  napi_ref self;
  napi_async_context async_context;
  bool self_held;
  bool closing;
  bool uv_closed;      /* the uv close callback has run */
  bool js_finalized;   /* the JS object is gone; no method can reach us */
};

static void watcher_on_close(uv_handle_t *handle) {
  struct watcher *w = handle->data;
  w->uv_closed = true;
  if (w->js_finalized) free(w);
}

static void watcher_hold_self(struct watcher *w, bool hold) {
  uint32_t count = 0;
  if (!w->self || w->self_held == hold) return;
  if (hold ? napi_reference_ref(w->env, w->self, &count) == napi_ok
           : napi_reference_unref(w->env, w->self, &count) == napi_ok)
    w->self_held = hold;
}

/* Stops delivery, releases the JS callback, starts the uv close. Safe to
 * call again. */
static void watcher_close(struct watcher *w) {
  if (w->closing) return;
  w->closing = true;
  uv_poll_stop(&w->poll);
  if (w->callback) {
    napi_delete_reference(w->env, w->callback);
    w->callback = NULL;
  }
  if (w->async_context) {
    napi_async_destroy(w->env, w->async_context);
    w->async_context = NULL;
  }
  watcher_hold_self(w, false);
  uv_close((uv_handle_t *)&w->poll, watcher_on_close);
}

/* Runs after close(), or for an unclosed watcher only at environment
 * teardown. */
static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  struct watcher *w = data;
  w->js_finalized = true;
  if (w->self) {
    napi_delete_reference(env, w->self);
    w->self = NULL;
  }
  if (!w->closing) {
    watcher_close(w);
    return; /* watcher_on_close frees */
  }
  if (w->uv_closed) free(w);
}

static void watcher_on_poll(uv_poll_t *handle, int status, int events) {
  struct watcher *w = handle->data;
  if (w->closing || !w->callback) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, argv[2], result;
  if (napi_get_reference_value(env, w->callback, &callback) == napi_ok && callback &&
      napi_get_global(env, &receiver) == napi_ok && napi_create_int32(env, events, &argv[0]) == napi_ok &&
      napi_create_int32(env, status, &argv[1]) == napi_ok) {
    /* make_callback runs nextTicks and microtasks afterwards and keeps
     * async_hooks context, like any other libuv-driven callback in Node. */
    napi_status s = napi_make_callback(env, w->async_context, receiver, callback, 2, argv, &result);
    if (s == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok) napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

static struct watcher *unwrap_watcher(napi_env env, napi_callback_info info, napi_value *args, size_t argc) {
  napi_value self;
  if (!get_args(env, info, argc, args, &self)) return NULL;
  bool tagged = false;
  void *data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, self, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, self, &watcher_tag, &tagged) != napi_ok || !tagged ||
      napi_unwrap(env, self, &data) != napi_ok || !data) {
    throw_type(env, "FdWatcher method called on an object that is not an FdWatcher");
    return NULL;
  }
  return data;
}

static napi_value watcher_start(napi_env env, napi_callback_info info) {
  napi_value args[1];
  struct watcher *w = unwrap_watcher(env, info, args, 1);
  if (!w) return NULL;
  int64_t events;
  if (!get_int(env, args[0], "events", 1, UV_READABLE | UV_WRITABLE, &events)) return NULL;
  if (w->closing) return throw_errno(env, "uv_poll_start", EBADF);
  int rc = uv_poll_start(&w->poll, (int)events, watcher_on_poll);
  if (rc < 0) return throw_errno(env, "uv_poll_start", -rc);
  return NULL;
}

static napi_value watcher_stop(napi_env env, napi_callback_info info) {
  struct watcher *w = unwrap_watcher(env, info, NULL, 0);
  if (!w) return NULL;
  if (!w->closing) uv_poll_stop(&w->poll);
  return NULL;
}

static napi_value watcher_ref(napi_env env, napi_callback_info info) {
  struct watcher *w = unwrap_watcher(env, info, NULL, 0);
  if (w && !w->closing) uv_ref((uv_handle_t *)&w->poll);
  return NULL;
}

static napi_value watcher_unref(napi_env env, napi_callback_info info) {
  struct watcher *w = unwrap_watcher(env, info, NULL, 0);
  if (w && !w->closing) uv_unref((uv_handle_t *)&w->poll);
  return NULL;
}

static napi_value watcher_close_method(napi_env env, napi_callback_info info) {
  struct watcher *w = unwrap_watcher(env, info, NULL, 0);
  if (w) watcher_close(w);
  return NULL;
}

static napi_value watch_fd(napi_env env, napi_callback_info info);

/* The FdWatcher class's constructor: not callable from JS (watch() makes every instance and wraps it). */
static napi_value watcher_construct(napi_env env, napi_callback_info info) {
  napi_value self;
  if (!get_args(env, info, 0, NULL, &self)) return NULL;
  return self;
}

/*
 * The class is made once, at module init: its five methods sit on the
 * prototype, so a watcher costs one object, not five new functions (two
 * watchers per run() made them a visible part of Node's time per run).
 */
napi_value make_watch_function(napi_env env) {
  static const napi_property_descriptor methods[] = {
      {"start", NULL, watcher_start, NULL, NULL, NULL, napi_default_method, NULL},
      {"stop", NULL, watcher_stop, NULL, NULL, NULL, napi_default_method, NULL},
      {"ref", NULL, watcher_ref, NULL, NULL, NULL, napi_default_method, NULL},
      {"unref", NULL, watcher_unref, NULL, NULL, NULL, napi_default_method, NULL},
      {"close", NULL, watcher_close_method, NULL, NULL, NULL, napi_default_method, NULL},
  };
  napi_value constructor, fn;
  napi_ref constructor_ref;
  CHECK_NAPI(env, napi_define_class(env, "FdWatcher", NAPI_AUTO_LENGTH, watcher_construct, NULL,
                                    sizeof methods / sizeof methods[0], methods, &constructor));
  /* Lives as long as the module's environment: the reference is freed with it. */
  CHECK_NAPI(env, napi_create_reference(env, constructor, 1, &constructor_ref));
  CHECK_NAPI(env, napi_create_function(env, "watch", NAPI_AUTO_LENGTH, watch_fd, constructor_ref, &fn));
  return fn;
}

static napi_value watch_fd(napi_env env, napi_callback_info info) {
  napi_value args[2];
  void *data = NULL;
  size_t argc = 2;
  if (napi_get_cb_info(env, info, &argc, args, NULL, &data) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return NULL;
  }
  int fd;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  napi_valuetype type;
  if (napi_typeof(env, args[1], &type) != napi_ok || type != napi_function)
    return throw_type(env, "callback must be a function");

  uv_loop_t *loop;
  CHECK_NAPI(env, napi_get_uv_event_loop(env, &loop));

  napi_value constructor, object, resource, resource_name;
  CHECK_NAPI(env, napi_get_reference_value(env, (napi_ref)data, &constructor));
  CHECK_NAPI(env, napi_new_instance(env, constructor, 0, NULL, &object));
  CHECK_NAPI(env, napi_create_object(env, &resource));
  CHECK_NAPI(env, napi_create_string_utf8(env, "HatcheryFdWatcher", NAPI_AUTO_LENGTH, &resource_name));

  struct watcher *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  w->env = env;
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    free(w);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  w->poll.data = w;
  uv_unref((uv_handle_t *)&w->poll);

  /* From here the uv handle exists; every failure path must close it. */
  if (napi_create_reference(env, args[1], 1, &w->callback) != napi_ok ||
      napi_async_init(env, resource, resource_name, &w->async_context) != napi_ok ||
      napi_type_tag_object(env, object, &watcher_tag) != napi_ok) {
    throw_napi_failure(env, "watch");
    w->js_finalized = true;
    watcher_close(w);
    return NULL;
  }
  if (napi_wrap(env, object, w, watcher_finalize, NULL, &w->self) != napi_ok) {
    throw_napi_failure(env, "napi_wrap");
    w->js_finalized = true;
    watcher_close(w);
    return NULL;
  }
  /* napi_wrap hands out the reference with a count of 0 (weak). */
  watcher_hold_self(w, true);
  return object;
}
