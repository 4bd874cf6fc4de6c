/* N-API helpers for the addon: Node-shaped errors, argument readers, value makers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addon_napi.h"

/* ---------------------------------------------------------------- errors */

void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "hatchery addon: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown");
  napi_throw_error(env, NULL, message);
}

const char *errno_name(int err) {
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

/* Throws an Error shaped like Node's system errors. Returns NULL so callers
 * can `return throw_errno(...)`. */
napi_value throw_errno(napi_env env, const char *syscall_name, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", syscall_name, strerror(err));
  napi_value msg, code, error, errno_value, syscall_value;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok || napi_create_int32(env, -err, &errno_value) != napi_ok ||
      napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &syscall_value) != napi_ok ||
      napi_set_named_property(env, error, "code", code) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_value) != napi_ok ||
      napi_set_named_property(env, error, "syscall", syscall_value) != napi_ok) {
    throw_napi_failure(env, "throw_errno");
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

/* ------------------------------------------------------------- arguments */

/* Reads an integer in [min, max]; throws and returns false otherwise. */
bool get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max, int64_t *out) {
  char message[160];
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    snprintf(message, sizeof message, "%s must be an integer", name);
    throw_type(env, message);
    return false;
  }
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok || !isfinite(d) || d != trunc(d)) {
    snprintf(message, sizeof message, "%s must be an integer", name);
    throw_type(env, message);
    return false;
  }
  if (d < (double)min || d > (double)max) {
    snprintf(message, sizeof message, "%s must be >= %lld and <= %lld", name, (long long)min, (long long)max);
    throw_range(env, message);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool get_fd(napi_env env, napi_value value, const char *name, int *out) {
  int64_t v;
  if (!get_int(env, value, name, 0, INT32_MAX, &v)) return false;
  *out = (int)v;
  return true;
}

/*
 * Copies a JS string into buf when it fits in size bytes, else into malloc'd
 * memory (buf may be NULL: always malloc'd); refuses embedded NULs because
 * execve and stat would silently cut the string there. The caller frees a
 * result that is not buf. NULL after a throw.
 */
char *get_cstring_into(napi_env env, napi_value value, const char *name, char *buf, size_t size) {
  char message[160];
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    snprintf(message, sizeof message, "%s must be a string", name);
    throw_type(env, message);
    return NULL;
  }
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) {
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return NULL;
  }
  char *s = buf != NULL && length < size ? buf : malloc(length + 1);
  if (!s) {
    throw_errno(env, "malloc", ENOMEM);
    return NULL;
  }
  size_t copied = 0;
  napi_status status = napi_get_value_string_utf8(env, value, s, length + 1, &copied);
  if (status != napi_ok || strlen(s) != copied) {
    if (s != buf) free(s);
    if (status != napi_ok) {
      throw_napi_failure(env, "napi_get_value_string_utf8");
    } else {
      snprintf(message, sizeof message, "%s must not contain NUL characters", name);
      throw_type(env, message);
    }
    return NULL;
  }
  return s;
}

char *get_cstring(napi_env env, napi_value value, const char *name) {
  return get_cstring_into(env, value, name, NULL, 0);
}

void free_string_array(char **strings) {
  if (!strings) return;
  for (char **p = strings; *p; p++) free(*p);
  free(strings);
}

/* A JS string[] as a NULL-terminated char*[] for execve. */
char **get_string_array(napi_env env, napi_value value, const char *name) {
  char message[160];
  bool is_array = false;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) {
    snprintf(message, sizeof message, "%s must be an array of strings", name);
    throw_type(env, message);
    return NULL;
  }
  uint32_t count = 0;
  if (napi_get_array_length(env, value, &count) != napi_ok) {
    throw_napi_failure(env, "napi_get_array_length");
    return NULL;
  }
  if (count > ZYGOTE_MAX_STRINGS) {
    snprintf(message, sizeof message, "%s must have at most %u entries", name, ZYGOTE_MAX_STRINGS);
    throw_range(env, message);
    return NULL;
  }
  char **strings = calloc((size_t)count + 1, sizeof *strings);
  if (!strings) {
    throw_errno(env, "calloc", ENOMEM);
    return NULL;
  }
  for (uint32_t i = 0; i < count; i++) {
    napi_value element;
    if (napi_get_element(env, value, i, &element) != napi_ok) {
      free_string_array(strings);
      throw_napi_failure(env, "napi_get_element");
      return NULL;
    }
    char element_name[96];
    snprintf(element_name, sizeof element_name, "%s[%u]", name, i);
    strings[i] = get_cstring(env, element, element_name);
    if (!strings[i]) {
      free_string_array(strings);
      return NULL;
    }
  }
  return strings;
}

bool get_bytes(napi_env env, napi_value value, const char *name, void **data, size_t *length) {
  char message[160];
  bool is_typedarray = false;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, value, &type, length, data, &arraybuffer, &offset) != napi_ok ||
      type != napi_uint8_array) {
    snprintf(message, sizeof message, "%s must be a Uint8Array or Buffer", name);
    throw_type(env, message);
    return false;
  }
  return true;
}

napi_value make_int(napi_env env, int64_t v) {
  napi_value result;
  CHECK_NAPI(env, napi_create_int64(env, v, &result));
  return result;
}

napi_value make_fd_pair(napi_env env, int a, int b, const char *what) {
  napi_value array, first, second;
  if (napi_create_array_with_length(env, 2, &array) != napi_ok || napi_create_int32(env, a, &first) != napi_ok ||
      napi_create_int32(env, b, &second) != napi_ok || napi_set_element(env, array, 0, first) != napi_ok ||
      napi_set_element(env, array, 1, second) != napi_ok) {
    close(a);
    close(b);
    throw_napi_failure(env, what);
    return NULL;
  }
  return array;
}

napi_value make_null(napi_env env) {
  napi_value result;
  CHECK_NAPI(env, napi_get_null(env, &result));
  return result;
}

/* Collects exactly `expected` arguments; missing ones read as undefined. */
bool get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv, napi_value *this_arg) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, this_arg, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return false;
  }
  return true;
}
