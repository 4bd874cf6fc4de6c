/*
 * The namespace twin: how a zygote that may not stock namespaces itself (a
 * caller that is not root, docs/performance.md §25) still gets its spawns'
 * network, IPC and UTS namespaces made ahead.
 *
 * A stocked namespace is entered with setns, which needs CAP_SYS_ADMIN both
 * in the entering process's user namespace and in the one that owns the
 * namespace. An unprivileged zygote has neither. Its twin does: a process
 * made once, by clone, with a user namespace of its own that maps uid and gid
 * 0 to the zygote's (nothing else is mapped), and network, IPC and UTS
 * namespaces that user namespace owns. It shares the zygote's memory and fd
 * table (CLONE_VM | CLONE_FILES) and runs only when the zygote asks it to
 * and waits: a spawn whose child makes a user namespace has its whole
 * start_child run here, so the stock (ns_stock.c, unchanged) is filled,
 * entered and read by the twin. The child is the zygote's all the same
 * (CLONE_PARENT, zygote_spawn.c): the zygote reaps it, holds its pidfd, and
 * its parent-death signal follows the zygote.
 *
 * What the child gets is what it got before, one level deeper: its own user
 * namespace (now the twin's child instead of the host's), nobody inside,
 * the zygote's uid outside, and no capability in the twin's user namespace,
 * so none over the stocked namespaces, which belong to it: the program can
 * neither reconfigure them nor write their sysctls (that takes
 * CAP_NET_ADMIN there, or the host's root). Only spawns without credentials
 * come here (the twin's user namespace maps no uid but the zygote's, so a
 * root caller's operation uids could not be mapped). A network namespace
 * left as new serves again here as a root zygote's does, unless the zygote
 * itself runs as the host's uid 0 (seen from a user namespace of its own).
 *
 * The two never run side by side: they share errno and libc's state (like
 * a child in the zygote's memory, zygote_spawn.c). The zygote writes a call
 * and waits for the twin's answer; the twin makes only raw system calls
 * outside a call. A twin that cannot be made (no user namespace here), or
 * that dies, is given up for good: spawns make their namespaces in clone.
 *
 * The twin is the zygote's child, and the zygote reaps it before it exits
 * (ns_twin_stop). A zygote that is killed cannot: its twin dies of its
 * parent-death signal and is handed to whoever reaps orphans there, which
 * may be Node itself (a container's pid 1, a child subreaper), and Node
 * reaps only what it knows. So Node is told, once, with a TWIN message
 * carrying the twin's pidfd (src/zygote/adopted.ts).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "plan.h"
#include "raw_syscall.h"
#include "util.h"
#include "wire.h"
#include "zygote.h"

#define TWIN_START_WAIT_MS 2000
#define TWIN_FLAGS (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)

enum twin_state { TWIN_UNTRIED, TWIN_RUNNING, TWIN_GONE };
static enum twin_state state = TWIN_UNTRIED;
static pid_t twin_pid = -1;
static int twin_pidfd = -1;
static int call_read = -1, call_write = -1; /* the zygote's call: one byte */
static int done_read = -1, done_write = -1; /* the twin's answer: one byte */
static struct {
  int (*fn)(void *);
  void *arg;
  int rc;
} call;

static _Noreturn void twin_exit(int status) {
  for (;;) (void)hatch_sys(SYS_exit, status, 0, 0, 0);
}

/* The twin's loop: raw calls only between calls (see the top of this file). */
static int twin_main(void *unused) {
  (void)unused;
  char byte;
  /* The zygote's first byte comes once the maps are written: until then this is nobody without capabilities. */
  if (hatch_sys(SYS_read, call_read, (long)&byte, 1, 0) != 1) twin_exit(1);
  if (hatch_sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0) != 0) twin_exit(1);
  /* The zygote may have died before the parent-death signal was set. */
  if (hatch_sys(SYS_getppid, 0, 0, 0, 0) != zygote_pid) twin_exit(1);
  byte = 0;
  if (hatch_sys(SYS_write, done_write, (long)&byte, 1, 0) != 1) twin_exit(1);
  for (;;) {
    long k = hatch_sys(SYS_read, call_read, (long)&byte, 1, 0);
    if (k == -EINTR) continue;
    if (k != 1) twin_exit(0);
    call.rc = call.fn(call.arg);
    byte = 0;
    if (hatch_sys(SYS_write, done_write, (long)&byte, 1, 0) != 1) twin_exit(1);
  }
}

/* Zygote side from here on: libc, while the twin waits for a call. */
static void give_up(void) {
  state = TWIN_GONE;
  if (twin_pidfd >= 0) {
    (void)syscall(SYS_pidfd_send_signal, twin_pidfd, SIGKILL, NULL, 0);
    siginfo_t info;
    while (waitid(P_PIDFD, (id_t)twin_pidfd, &info, WEXITED) != 0 && errno == EINTR) {
    }
  }
  hatch_closep(&twin_pidfd);
  twin_pid = -1;
  hatch_closep(&call_read);
  hatch_closep(&call_write);
  hatch_closep(&done_read);
  hatch_closep(&done_write);
}

/*
 * The twin's answer, or its death: 0, or -1. A call is bounded by what it
 * runs (start_child waits at most RELEASE_WAIT_MS for a child, then kills
 * it); the first answer, by TWIN_START_WAIT_MS.
 */
static int await_answer(int timeout_ms) {
  struct pollfd p[2] = {{.fd = done_read, .events = POLLIN}, {.fd = twin_pidfd, .events = POLLIN}};
  for (;;) {
    int n = poll(p, 2, timeout_ms);
    if (n < 0 && errno == EINTR) continue;
    char byte;
    if (n > 0 && (p[0].revents & POLLIN) && read(done_read, &byte, 1) == 1) return 0;
    return -1;
  }
}

/* What /proc/sys/kernel/ostype's owner (the host's uid 0, always) reads as here: the zygote is the host's root if it is its own uid. */
static int zygote_is_host_root(void) {
  struct stat st;
  return stat("/proc/sys/kernel/ostype", &st) != 0 || st.st_uid == geteuid();
}

static int make_twin(void) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  call_read = fds[0], call_write = fds[1];
  if (pipe2(fds, O_CLOEXEC) != 0) return -1;
  done_read = fds[0], done_write = fds[1];
  void *stack_top = hatch_map_stack(); /* kept for the zygote's life */
  if (stack_top == NULL) return -1;
  long pid =
      clone(twin_main, stack_top, CLONE_VM | CLONE_FILES | CLONE_PIDFD | TWIN_FLAGS | SIGCHLD, NULL, &twin_pidfd);
  if (pid < 0) {
    twin_pidfd = -1;
    return -1;
  }
  twin_pid = (pid_t)pid;
  /* uid and gid 0 inside are the zygote's ids, the one map an unprivileged writer may write. */
  if (hatch_write_self_map((int)pid, geteuid(), getegid()) != 0) return -1;
  char go = 1;
  if (write(call_write, &go, 1) != 1) return -1;
  if (await_answer(TWIN_START_WAIT_MS) != 0) {
    hatch_log("the namespace twin did not start; spawns create their namespaces");
    return -1;
  }
  return 0;
}

int ns_twin_serves(const struct hatch_plan *plan) {
  /* The twin's user namespace maps no uid but the zygote's: a root caller's operation uid could not be mapped. */
  if (plan->has_credentials || !plan->has_namespaces) return 0;
  /* Every one of them: a child born in the twin keeps whichever it does not make, and those are the twin's, not the host's. */
  if ((plan->namespaces.clone_flags & TWIN_FLAGS) != TWIN_FLAGS) return 0;
  if (!HATCH_HAVE_RAW_SYSCALL || state == TWIN_GONE) return 0;
  if (state == TWIN_UNTRIED) {
    /* A zygote that can stock namespaces itself needs no twin (ns_stock.c decides the same way). */
    if (ns_stock_home_reachable()) return state = TWIN_GONE, 0;
    if (make_twin() != 0) {
      if (state != TWIN_GONE) give_up();
      return 0;
    }
    state = TWIN_RUNNING;
    ns_stock_in_twin(zygote_is_host_root());
    send_datagram(tx, hatch_encode_twin(tx, (uint32_t)twin_pid), twin_pidfd);
  }
  return 1;
}

int ns_twin_running(void) { return state == TWIN_RUNNING; }

/*
 * A twin that dies in a call (killed by a process of the caller's uid, or by
 * its own fatal error, as the zygote would have died of it) may leave a
 * child half made, fds of a call open and the stock half changed: the zygote
 * ends too, killing every tree, and the pool starts another (ZYGOTE_DIED for
 * the operations it ran).
 */
int ns_twin_call(int (*fn)(void *), void *arg) {
  call.fn = fn;
  call.arg = arg;
  char go = 1;
  if (write(call_write, &go, 1) != 1 || await_answer(-1) != 0) {
    hatch_log("the namespace twin died");
    shutdown_zygote(1);
  }
  return call.rc;
}

pid_t ns_twin_pid(void) { return twin_pid; }

void ns_twin_stop(void) {
  if (state == TWIN_RUNNING) give_up();
}
