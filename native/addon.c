/*
 * hatchery N-API addon: the few system calls Node cannot make itself.
 * The TypeScript view of this module is src/native/binding.ts; its doc
 * comments are the contract.
 *
 * Conventions: a kernel error the caller must branch on comes back as a
 * negative errno number; anything that means a bug (EBADF, bad arguments)
 * is thrown as an Error carrying .code ('EBADF'), .errno (negative, like
 * Node's own errors) and .syscall.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif

#define ZYGOTE_STACK_SIZE (64u * 1024u)
/* spawnZygote's argv and env: a handful of strings, bounded so a bad call cannot ask for much. */
#define ZYGOTE_MAX_STRINGS 4096u
#define ZYGOTE_CONTROL_FD 3
/* Room for more fds than the protocol allows, so extras arrive and can be
 * closed here explicitly instead of being dropped silently by the kernel. */
#define RECV_FD_ROOM 16u
/* Kernel signal sets are 64 bits on every Linux ABI that Node supports. */
#define KERNEL_SIGSET_SIZE 8u

#define CHECK_NAPI(env, call)                                                  \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      throw_napi_failure((env), #call);                                        \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

/* ---------------------------------------------------------------- errors */

static void throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char message[256];
  snprintf(message, sizeof message, "hatchery addon: %s failed: %s", what,
           info && info->error_message ? info->error_message : "unknown");
  napi_throw_error(env, NULL, message);
}

static const char *errno_name(int err) {
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

/* Throws an Error shaped like Node's system errors. Returns NULL so callers
 * can `return throw_errno(...)`. */
static napi_value throw_errno(napi_env env, const char *syscall_name, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", syscall_name, strerror(err));
  napi_value msg, code, error, errno_value, syscall_value;
  if (napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg) != napi_ok ||
      napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_error(env, code, msg, &error) != napi_ok ||
      napi_create_int32(env, -err, &errno_value) != napi_ok ||
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

static napi_value throw_type(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", message);
  return NULL;
}

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", message);
  return NULL;
}

/* ------------------------------------------------------------- arguments */

/* Reads an integer in [min, max]; throws and returns false otherwise. */
static bool get_int(napi_env env, napi_value value, const char *name, int64_t min,
                    int64_t max, int64_t *out) {
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
    snprintf(message, sizeof message, "%s must be >= %lld and <= %lld", name,
             (long long)min, (long long)max);
    throw_range(env, message);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

static bool get_fd(napi_env env, napi_value value, const char *name, int *out) {
  int64_t v;
  if (!get_int(env, value, name, 0, INT32_MAX, &v)) return false;
  *out = (int)v;
  return true;
}

/* Copies a JS string into malloc'd memory; refuses embedded NULs because
 * execve would silently cut the string there. */
static char *get_cstring(napi_env env, napi_value value, const char *name) {
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
  char *s = malloc(length + 1);
  if (!s) {
    throw_errno(env, "malloc", ENOMEM);
    return NULL;
  }
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, value, s, length + 1, &copied) != napi_ok) {
    free(s);
    throw_napi_failure(env, "napi_get_value_string_utf8");
    return NULL;
  }
  if (strlen(s) != copied) {
    free(s);
    snprintf(message, sizeof message, "%s must not contain NUL characters", name);
    throw_type(env, message);
    return NULL;
  }
  return s;
}

static void free_string_array(char **strings) {
  if (!strings) return;
  for (char **p = strings; *p; p++) free(*p);
  free(strings);
}

/* A JS string[] as a NULL-terminated char*[] for execve. */
static char **get_string_array(napi_env env, napi_value value, const char *name) {
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

static bool get_bytes(napi_env env, napi_value value, const char *name, void **data,
                      size_t *length) {
  char message[160];
  bool is_typedarray = false;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (napi_is_typedarray(env, value, &is_typedarray) != napi_ok || !is_typedarray ||
      napi_get_typedarray_info(env, value, &type, length, data, &arraybuffer, &offset) !=
          napi_ok ||
      type != napi_uint8_array) {
    snprintf(message, sizeof message, "%s must be a Uint8Array or Buffer", name);
    throw_type(env, message);
    return false;
  }
  return true;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value result;
  CHECK_NAPI(env, napi_create_int64(env, v, &result));
  return result;
}

static napi_value make_null(napi_env env) {
  napi_value result;
  CHECK_NAPI(env, napi_get_null(env, &result));
  return result;
}

/* Collects exactly `expected` arguments; missing ones read as undefined. */
static bool get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv,
                     napi_value *this_arg) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, this_arg, NULL) != napi_ok) {
    throw_napi_failure(env, "napi_get_cb_info");
    return false;
  }
  return true;
}

/* ---------------------------------------------------------- spawnZygote */

struct zygote_exec {
  const char *path;
  char **argv;
  char **envp;
  int control_fd;
  int devnull_fd;
  int node_fd; /* Node's end of the socketpair, must not reach the zygote */
  /* Written by the child before _exit(127); read by the parent once the
   * vfork suspension ends. Memory is shared (CLONE_VM). */
  int error;
  const char *failed_call;
};

static long raw_sigmask(int how, const uint64_t *set, uint64_t *old) {
  return syscall(SYS_rt_sigprocmask, how, set, old, KERNEL_SIGSET_SIZE);
}

/*
 * Runs in Node's address space on a private stack while the calling thread is
 * suspended and every signal is blocked: only raw system calls, no locks, no
 * allocation. Node's signal handlers must never run here, hence dispositions
 * are reset before the mask is cleared.
 */
static int zygote_child(void *arg) {
  struct zygote_exec *x = arg;
  /* A zeroed kernel sigaction is SIG_DFL with no flags on every ABI; raw
   * rt_sigaction also reaches the signals glibc reserves for itself. Resetting
   * ignored signals too (Node ignores SIGPIPE) gives the zygote a known state. */
  unsigned long dfl[8];
  memset(dfl, 0, sizeof dfl);
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    syscall(SYS_rt_sigaction, sig, dfl, NULL, KERNEL_SIGSET_SIZE);
  }
  /* Move both fds above 0..3 first, so no dup2 below can clobber the other
   * or be a no-op that leaves close-on-exec set. */
  int control = fcntl(x->control_fd, F_DUPFD_CLOEXEC, 10);
  if (control < 0) {
    x->failed_call = "fcntl";
    goto fail;
  }
  int devnull = fcntl(x->devnull_fd, F_DUPFD_CLOEXEC, 10);
  if (devnull < 0) {
    x->failed_call = "fcntl";
    goto fail;
  }
  if (dup2(control, ZYGOTE_CONTROL_FD) < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0) {
    x->failed_call = "dup2";
    goto fail;
  }
  /* Node keeps its stdio close-on-exec, so stderr must be inherited
   * explicitly. If fd 2 was closed in Node and reused for one of our own
   * fds, give the zygote /dev/null there instead. */
  if (x->control_fd == 2 || x->devnull_fd == 2 || x->node_fd == 2) {
    if (dup2(devnull, 2) < 0) {
      x->failed_call = "dup2";
      goto fail;
    }
  } else {
    int fd_flags = fcntl(2, F_GETFD);
    if (fd_flags > 0 && fcntl(2, F_SETFD, fd_flags & ~FD_CLOEXEC) < 0) {
      x->failed_call = "fcntl";
      goto fail;
    }
  }
  /* Node's fds should all be close-on-exec already; this makes sure. */
  if (syscall(SYS_close_range, ZYGOTE_CONTROL_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    for (int fd = ZYGOTE_CONTROL_FD + 1; fd < 65536; fd++) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  uint64_t none = 0;
  raw_sigmask(SIG_SETMASK, &none, NULL);
  execve(x->path, x->argv, x->envp);
  x->failed_call = "execve";
fail:
  x->error = errno;
  _exit(127);
}

static napi_value spawn_zygote(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (!get_args(env, info, 3, args, NULL)) return NULL;

  napi_value result = NULL;
  struct zygote_exec x = {.control_fd = -1, .devnull_fd = -1};
  char *path = NULL;
  char **argv = NULL, **envp = NULL;
  int sv[2] = {-1, -1};
  int devnull = -1;
  void *stack = MAP_FAILED;

  if (!(path = get_cstring(env, args[0], "path"))) goto out;
  if (!(argv = get_string_array(env, args[1], "argv"))) goto out;
  if (!(envp = get_string_array(env, args[2], "env"))) goto out;

  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    throw_errno(env, "socketpair", errno);
    goto out;
  }
  devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) {
    throw_errno(env, "open", errno);
    goto out;
  }
  if (fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0) {
    throw_errno(env, "fcntl", errno);
    goto out;
  }
  stack = mmap(NULL, ZYGOTE_STACK_SIZE, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    throw_errno(env, "mmap", errno);
    goto out;
  }

  x.path = path;
  x.argv = argv;
  x.envp = envp;
  x.control_fd = sv[1];
  x.devnull_fd = devnull;
  x.node_fd = sv[0];

  /* Raw syscall, not pthread_sigmask: glibc would leave its internal
   * signals unblocked, and their handlers must not run in the child. */
  uint64_t all = ~(uint64_t)0, saved = 0;
  raw_sigmask(SIG_SETMASK, &all, &saved);
  int pidfd = -1;
  /* Exit signal 0 (low byte): the kernel never sends SIGCHLD to Node, and
   * waitpid(-1) without __WALL cannot reap it. */
  pid_t pid = clone(zygote_child, (char *)stack + ZYGOTE_STACK_SIZE,
                    CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &x, &pidfd);
  int clone_errno = errno;
  raw_sigmask(SIG_SETMASK, &saved, NULL);

  if (pid < 0) {
    throw_errno(env, "clone", clone_errno);
    goto out;
  }
  if (x.error != 0) {
    siginfo_t status;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &status, WEXITED | __WALL) < 0 &&
           errno == EINTR) {
    }
    close(pidfd);
    throw_errno(env, x.failed_call ? x.failed_call : "execve", x.error);
    goto out;
  }

  napi_value pid_value, pidfd_value, socket_value, object;
  if (napi_create_object(env, &object) != napi_ok ||
      napi_create_int32(env, pid, &pid_value) != napi_ok ||
      napi_create_int32(env, pidfd, &pidfd_value) != napi_ok ||
      napi_create_int32(env, sv[0], &socket_value) != napi_ok ||
      napi_set_named_property(env, object, "pid", pid_value) != napi_ok ||
      napi_set_named_property(env, object, "pidfd", pidfd_value) != napi_ok ||
      napi_set_named_property(env, object, "socket", socket_value) != napi_ok) {
    /* The zygote exits on control-socket EOF; reap it so nothing leaks. */
    close(sv[0]);
    sv[0] = -1;
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    siginfo_t status;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &status, WEXITED | __WALL) < 0 &&
           errno == EINTR) {
    }
    close(pidfd);
    throw_napi_failure(env, "spawnZygote result");
    goto out;
  }
  result = object;
  sv[0] = -1; /* now owned by JS */

out:
  if (stack != MAP_FAILED) munmap(stack, ZYGOTE_STACK_SIZE);
  if (devnull >= 0) close(devnull);
  if (sv[0] >= 0) close(sv[0]);
  if (sv[1] >= 0) close(sv[1]);
  free_string_array(envp);
  free_string_array(argv);
  free(path);
  return result;
}

/* ------------------------------------------------------ datagrams + fds */

static bool get_fd_list(napi_env env, napi_value value, int *fds, size_t *count) {
  bool is_array = false;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array) {
    throw_type(env, "fds must be an array of file descriptors");
    return false;
  }
  uint32_t length = 0;
  if (napi_get_array_length(env, value, &length) != napi_ok) {
    throw_napi_failure(env, "napi_get_array_length");
    return false;
  }
  if (length > HATCH_MAX_FDS_PER_MESSAGE) {
    char message[80];
    snprintf(message, sizeof message, "fds must hold at most %u file descriptors", HATCH_MAX_FDS_PER_MESSAGE);
    throw_type(env, message);
    return false;
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value element;
    if (napi_get_element(env, value, i, &element) != napi_ok) {
      throw_napi_failure(env, "napi_get_element");
      return false;
    }
    int64_t v;
    napi_valuetype type;
    double d;
    if (napi_typeof(env, element, &type) != napi_ok || type != napi_number ||
        napi_get_value_double(env, element, &d) != napi_ok || !isfinite(d) ||
        d != trunc(d) || d < 0 || d > INT32_MAX) {
      throw_type(env, "fds must be an array of non-negative integer file descriptors");
      return false;
    }
    v = (int64_t)d;
    fds[i] = (int)v;
  }
  *count = length;
  return true;
}

static napi_value send_message(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (!get_args(env, info, 3, args, NULL)) return NULL;
  int fd;
  void *data;
  size_t length;
  int fds[HATCH_MAX_FDS_PER_MESSAGE];
  size_t fd_count = 0;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  if (!get_bytes(env, args[1], "data", &data, &length)) return NULL;
  if (!get_fd_list(env, args[2], fds, &fd_count)) return NULL;

  union {
    char buf[CMSG_SPACE(sizeof(int) * HATCH_MAX_FDS_PER_MESSAGE)];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd_count > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fd_count);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * fd_count);
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return make_int(env, n < 0 ? -(int64_t)errno : (int64_t)n);
}

static napi_value receive_message(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int fd;
  void *data;
  size_t length;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  if (!get_bytes(env, args[1], "buf", &data, &length)) return NULL;

  union {
    char buf[CMSG_SPACE(sizeof(int) * RECV_FD_ROOM)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = data, .iov_len = length};
  struct msghdr msg = {.msg_iov = &iov,
                       .msg_iovlen = 1,
                       .msg_control = control.buf,
                       .msg_controllen = sizeof control.buf};
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_null(env);
    return throw_errno(env, "recvmsg", errno);
  }

  int kept[HATCH_MAX_FDS_PER_MESSAGE];
  size_t kept_count = 0;
  bool truncated = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int received;
      memcpy(&received, CMSG_DATA(cmsg) + i * sizeof(int), sizeof received);
      if (kept_count < HATCH_MAX_FDS_PER_MESSAGE) {
        kept[kept_count++] = received;
      } else {
        close(received);
        truncated = true;
      }
    }
  }

  /* From here on the fds belong to the result; if building it fails they
   * must not leak. */
  napi_value object, fd_array, value;
  bool ok = napi_create_object(env, &object) == napi_ok &&
            napi_create_array_with_length(env, kept_count, &fd_array) == napi_ok;
  for (size_t i = 0; ok && i < kept_count; i++) {
    ok = napi_create_int32(env, kept[i], &value) == napi_ok &&
         napi_set_element(env, fd_array, (uint32_t)i, value) == napi_ok;
  }
  ok = ok && napi_create_int64(env, n, &value) == napi_ok &&
       napi_set_named_property(env, object, "length", value) == napi_ok &&
       napi_set_named_property(env, object, "fds", fd_array) == napi_ok &&
       napi_get_boolean(env, truncated, &value) == napi_ok &&
       napi_set_named_property(env, object, "truncated", value) == napi_ok &&
       /* SOCK_SEQPACKET reports a closed peer as a 0-byte read; the protocol
        * never sends empty datagrams, so this is unambiguous. */
       napi_get_boolean(env, n == 0 && kept_count == 0 && !truncated, &value) == napi_ok &&
       napi_set_named_property(env, object, "eof", value) == napi_ok;
  if (!ok) {
    for (size_t i = 0; i < kept_count; i++) close(kept[i]);
    throw_napi_failure(env, "receiveMessage result");
    return NULL;
  }
  return object;
}

/* ---------------------------------------------------------------- watch */

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
      napi_get_global(env, &receiver) == napi_ok &&
      napi_create_int32(env, events, &argv[0]) == napi_ok &&
      napi_create_int32(env, status, &argv[1]) == napi_ok) {
    /* make_callback runs nextTicks and microtasks afterwards and keeps
     * async_hooks context, like any other libuv-driven callback in Node. */
    napi_status s = napi_make_callback(env, w->async_context, receiver, callback, 2, argv, &result);
    if (s == napi_pending_exception) {
      napi_value exception;
      if (napi_get_and_clear_last_exception(env, &exception) == napi_ok)
        napi_fatal_exception(env, exception);
    }
  }
  napi_close_handle_scope(env, scope);
}

static struct watcher *unwrap_watcher(napi_env env, napi_callback_info info, napi_value *args,
                                      size_t argc) {
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

static napi_value watch_fd(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int fd;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  napi_valuetype type;
  if (napi_typeof(env, args[1], &type) != napi_ok || type != napi_function)
    return throw_type(env, "callback must be a function");

  uv_loop_t *loop;
  CHECK_NAPI(env, napi_get_uv_event_loop(env, &loop));

  napi_value object, resource, resource_name;
  CHECK_NAPI(env, napi_create_object(env, &object));
  CHECK_NAPI(env, napi_create_object(env, &resource));
  CHECK_NAPI(env, napi_create_string_utf8(env, "HatcheryFdWatcher", NAPI_AUTO_LENGTH,
                                          &resource_name));
  static const struct {
    const char *name;
    napi_callback fn;
  } methods[] = {{"start", watcher_start},
                 {"stop", watcher_stop},
                 {"ref", watcher_ref},
                 {"unref", watcher_unref},
                 {"close", watcher_close_method}};
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    napi_value fn;
    CHECK_NAPI(env, napi_create_function(env, methods[i].name, NAPI_AUTO_LENGTH, methods[i].fn,
                                         NULL, &fn));
    CHECK_NAPI(env, napi_set_named_property(env, object, methods[i].name, fn));
  }

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

/* ---------------------------------------------------------------- pidfd */

static napi_value pidfd_send_signal_fn(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int pidfd;
  int64_t signo;
  if (!get_fd(env, args[0], "pidfd", &pidfd)) return NULL;
  if (!get_int(env, args[1], "signo", 0, 64, &signo)) return NULL;
  long rc = syscall(SYS_pidfd_send_signal, pidfd, (int)signo, NULL, 0);
  return make_int(env, rc < 0 ? -(int64_t)errno : 0);
}

static napi_value reap_pidfd(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  int pidfd;
  if (!get_fd(env, args[0], "pidfd", &pidfd)) return NULL;
  siginfo_t status;
  memset(&status, 0, sizeof status);
  int rc;
  do {
    rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, &status, WEXITED | WNOHANG | __WALL);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return throw_errno(env, "waitid", errno);
  if (status.si_pid == 0) return make_null(env);

  napi_value object, exit_code, signal_value;
  CHECK_NAPI(env, napi_create_object(env, &object));
  CHECK_NAPI(env, napi_get_null(env, &exit_code));
  CHECK_NAPI(env, napi_get_null(env, &signal_value));
  if (status.si_code == CLD_EXITED) {
    CHECK_NAPI(env, napi_create_int32(env, status.si_status, &exit_code));
  } else {
    CHECK_NAPI(env, napi_create_int32(env, status.si_status, &signal_value));
  }
  CHECK_NAPI(env, napi_set_named_property(env, object, "exitCode", exit_code));
  CHECK_NAPI(env, napi_set_named_property(env, object, "signal", signal_value));
  return object;
}

/* ------------------------------------------------------------ plain fds */

static napi_value pipe_fn(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, "pipe2", errno);
  napi_value array, r, w;
  if (napi_create_array_with_length(env, 2, &array) != napi_ok ||
      napi_create_int32(env, fds[0], &r) != napi_ok ||
      napi_create_int32(env, fds[1], &w) != napi_ok ||
      napi_set_element(env, array, 0, r) != napi_ok ||
      napi_set_element(env, array, 1, w) != napi_ok) {
    close(fds[0]);
    close(fds[1]);
    throw_napi_failure(env, "pipe result");
    return NULL;
  }
  return array;
}

static napi_value open_dev_null(napi_env env, napi_callback_info info) {
  (void)info;
  int fd;
  do {
    fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return throw_errno(env, "open", errno);
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    throw_napi_failure(env, "openDevNull result");
    return NULL;
  }
  return result;
}

static napi_value close_fn(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  int fd;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  /* On Linux the fd is gone even when close reports EINTR; never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

static napi_value wait_any_no_hang(napi_env env, napi_callback_info info) {
  (void)info;
  int status;
  pid_t pid = waitpid(-1, &status, WNOHANG);
  return make_int(env, pid < 0 ? -(int64_t)errno : (int64_t)pid);
}

/*
 * An anonymous file holding exactly `data`, sealed so that neither its size
 * nor its bytes can change again (and no seal can be added or removed): what
 * the zygote maps stays what it parsed. Used for SPAWN args files.
 */
static napi_value memfd_from_buffer(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  void *data;
  size_t length;
  char *name = get_cstring(env, args[0], "name");
  if (!name) return NULL;
  if (!get_bytes(env, args[1], "data", &data, &length)) {
    free(name);
    return NULL;
  }
  /* Not executable where the kernel knows how to say so (6.3+): it is data. */
  int fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL);
  if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  int err = errno;
  free(name);
  if (fd < 0) return throw_errno(env, "memfd_create", err);
  const char *p = data;
  size_t left = length;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      close(fd);
      return throw_errno(env, "write", err);
    }
    p += n;
    left -= (size_t)n;
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    err = errno;
    close(fd);
    return throw_errno(env, "fcntl(F_ADD_SEALS)", err);
  }
  napi_value result;
  if (napi_create_int32(env, fd, &result) != napi_ok) {
    close(fd);
    throw_napi_failure(env, "memfdFromBuffer result");
    return NULL;
  }
  return result;
}

/* --------------------------------------------------------------- system */

static napi_value page_size(napi_env env, napi_callback_info info) {
  (void)info;
  long size = sysconf(_SC_PAGESIZE);
  return make_int(env, size > 0 ? size : 4096);
}

static napi_value landlock_abi(napi_env env, napi_callback_info info) {
  (void)info;
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return make_int(env, abi < 0 ? -(int64_t)errno : (int64_t)abi);
}

static napi_value kernel_release(napi_env env, napi_callback_info info) {
  (void)info;
  struct utsname name;
  if (uname(&name) < 0) return throw_errno(env, "uname", errno);
  napi_value result;
  CHECK_NAPI(env, napi_create_string_utf8(env, name.release, NAPI_AUTO_LENGTH, &result));
  return result;
}

/*
 * A lease that lasts as long as this process: open (never following a link)
 * and take an exclusive, non-blocking flock. The kernel drops it when the
 * process dies, however it dies. Returns the fd, or -errno (-EWOULDBLOCK:
 * someone else holds it).
 */
static napi_value lock_file(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  char *path = get_cstring(env, args[0], "path");
  if (!path) return NULL;
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  int err = errno;
  free(path);
  if (fd < 0) return make_int(env, -(int64_t)err);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    err = errno;
    close(fd);
    return make_int(env, -(int64_t)err);
  }
  return make_int(env, fd);
}

/* ----------------------------------------------------------------- init */

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"spawnZygote", spawn_zygote},
      {"sendMessage", send_message},
      {"receiveMessage", receive_message},
      {"watch", watch_fd},
      {"pidfdSendSignal", pidfd_send_signal_fn},
      {"reapPidfd", reap_pidfd},
      {"pipe", pipe_fn},
      {"openDevNull", open_dev_null},
      {"close", close_fn},
      {"waitAnyNoHang", wait_any_no_hang},
      {"landlockAbi", landlock_abi},
      {"kernelRelease", kernel_release},
      {"lockFile", lock_file},
      {"memfdFromBuffer", memfd_from_buffer},
      {"pageSize", page_size},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK_NAPI(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH,
                                         functions[i].fn, NULL, &fn));
    CHECK_NAPI(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  return exports;
}
