/*
 * spawnZygote: starts a zygote with clone(CLONE_VM|CLONE_VFORK|CLONE_PIDFD)
 * and exec, so its cost never depends on Node's heap (see docs/ARCHITECTURE.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addon.h"
#include "addon_napi.h"
#include "kernel_compat.h"
#include "protocol.h"

#define ZYGOTE_STACK_SIZE (64u * 1024u)
#define ZYGOTE_CONTROL_FD HATCH_CONTROL_FD
/* Kernel signal sets are 64 bits on every Linux ABI that Node supports. */
#define KERNEL_SIGSET_SIZE 8u

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
  for (int sig = 1; sig <= HATCH_LAST_SIGNAL; sig++) {
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

napi_value spawn_zygote(napi_env env, napi_callback_info info) {
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
  stack = mmap(NULL, ZYGOTE_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
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
  pid_t pid = clone(zygote_child, (char *)stack + ZYGOTE_STACK_SIZE, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, &x, &pidfd);
  int clone_errno = errno;
  raw_sigmask(SIG_SETMASK, &saved, NULL);

  if (pid < 0) {
    throw_errno(env, "clone", clone_errno);
    goto out;
  }
  if (x.error != 0) {
    siginfo_t status;
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &status, WEXITED | __WALL) < 0 && errno == EINTR) {
    }
    close(pidfd);
    throw_errno(env, x.failed_call ? x.failed_call : "execve", x.error);
    goto out;
  }

  napi_value pid_value, pidfd_value, socket_value, object;
  if (napi_create_object(env, &object) != napi_ok || napi_create_int32(env, pid, &pid_value) != napi_ok ||
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
    while (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &status, WEXITED | __WALL) < 0 && errno == EINTR) {
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
