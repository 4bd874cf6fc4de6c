/* Fds for Node: datagrams with SCM_RIGHTS, pidfds, pipes, /dev/null, sealed memfds. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"
#include "addon_napi.h"
#include "kernel_compat.h"
#include "protocol.h"

/* Room for more fds than the protocol allows, so extras arrive and can be
 * closed here explicitly instead of being dropped silently by the kernel. */
#define RECV_FD_ROOM 16u

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
        napi_get_value_double(env, element, &d) != napi_ok || !isfinite(d) || d != trunc(d) || d < 0 || d > INT32_MAX) {
      throw_type(env, "fds must be an array of non-negative integer file descriptors");
      return false;
    }
    v = (int64_t)d;
    fds[i] = (int)v;
  }
  *count = length;
  return true;
}

napi_value send_message(napi_env env, napi_callback_info info) {
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

napi_value receive_message(napi_env env, napi_callback_info info) {
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
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
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

/* ---------------------------------------------------------------- pidfd */

napi_value pidfd_send_signal_fn(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int pidfd;
  int64_t signo;
  if (!get_fd(env, args[0], "pidfd", &pidfd)) return NULL;
  if (!get_int(env, args[1], "signo", 0, HATCH_LAST_SIGNAL, &signo)) return NULL;
  long rc = syscall(SYS_pidfd_send_signal, pidfd, (int)signo, NULL, 0);
  return make_int(env, rc < 0 ? -(int64_t)errno : 0);
}

napi_value reap_pidfd(napi_env env, napi_callback_info info) {
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

/*
 * A pipe for a child's stdio. Its mode is opened up to 0666 here, where it
 * is made: a root caller's pipe is root's, mode 0600, and the child's own
 * uid could then not reopen it through /dev/stdout (/proc/self/fd/1), which
 * programs expect to work. No one can reach an anonymous pipe by name; only
 * a holder of one of its fds can reopen it. Fds the caller passes in
 * (stdio 'inherit', or an fd of its own) keep their modes: nothing else
 * changes one.
 */
napi_value pipe_fn(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return throw_errno(env, "pipe2", errno);
  if (fchmod(fds[0], 0666) != 0) {
    int err = errno;
    close(fds[0]);
    close(fds[1]);
    return throw_errno(env, "fchmod", err);
  }
  return make_fd_pair(env, fds[0], fds[1], "pipe result");
}

/* read(2) into buf from offset on, for pipes Node reads without a stream
 * (run()'s output). Never blocks the loop: the fd is O_NONBLOCK once
 * watched. Bytes read, 0 at end of file, or -errno (-EAGAIN: nothing yet). */
napi_value read_into(napi_env env, napi_callback_info info) {
  napi_value args[3];
  if (!get_args(env, info, 3, args, NULL)) return NULL;
  int fd;
  void *data;
  size_t length;
  int64_t offset;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  if (!get_bytes(env, args[1], "buf", &data, &length)) return NULL;
  if (napi_get_value_int64(env, args[2], &offset) != napi_ok || offset < 0 || (uint64_t)offset > length) {
    throw_type(env, "offset must be an integer within buf");
    return NULL;
  }
  ssize_t n;
  do {
    n = read(fd, (char *)data + offset, length - (size_t)offset);
  } while (n < 0 && errno == EINTR);
  return make_int(env, n < 0 ? -(int64_t)errno : (int64_t)n);
}

napi_value open_dev_null(napi_env env, napi_callback_info info) {
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

napi_value close_fn(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  int fd;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  /* On Linux the fd is gone even when close reports EINTR; never retry. */
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

napi_value wait_any_no_hang(napi_env env, napi_callback_info info) {
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
napi_value memfd_from_buffer(napi_env env, napi_callback_info info) {
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
