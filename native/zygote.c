/*
 * hatchery zygote: a single-threaded fork server (see docs/ARCHITECTURE.md).
 *
 * Started with the control socket (AF_UNIX SOCK_SEQPACKET) on fd 3. It polls
 * that socket, a signalfd for SIGCHLD, and per child an error pipe (until
 * exec, or with a pid-namespace init until the init exits: it also reports
 * the program's wait status there), a pidfd and a timerfd. No heap: every
 * buffer below is static.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "plan.h"
#include "probe.h"
#include "protocol.h"
#include "util.h"
#include "wire.h"
#include "zygote.h"

#define MAX_ORPHANS_PER_SCAN 1024u
/* A live orphan is reparented without any SIGCHLD, so it is looked for on a timer too. */
#define ORPHAN_SCAN_INTERVAL_MS 200u
#define MAX_SHUTDOWN_ROUNDS 1000

int signal_fd = -1;
pid_t zygote_pid;
static char children_path[64];
int handshake_done;
uint32_t idle_timeout_ms;
uint64_t idle_since_ns;
uint64_t last_orphan_scan_ns;

/* ---- orphans ---------------------------------------------------------- */

/*
 * As a subreaper the zygote inherits every grandchild whose parent died,
 * including ones that escaped the child's process group. None of them may
 * outlive their child, so each is killed and reaped. Returns how many were found.
 */
unsigned reap_orphans(int block) {
  static pid_t found[MAX_ORPHANS_PER_SCAN];
  static char chunk[4096];
  unsigned count = 0;
  last_orphan_scan_ns = hatch_now_ns();
  hatch_autoclose int fd = open(children_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  /* Collect first: reaping while the kernel generates the list could skip entries. */
  uint64_t value = 0;
  int in_number = 0;
  for (;;) {
    ssize_t k = read(fd, chunk, sizeof chunk);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) break;
    for (ssize_t i = 0; i < k; i++) {
      char ch = chunk[i];
      if (ch >= '0' && ch <= '9') {
        if (value < (uint64_t)INT32_MAX) value = value * 10 + (uint64_t)(ch - '0');
        in_number = 1;
      } else if (in_number) {
        if (count < MAX_ORPHANS_PER_SCAN && value <= (uint64_t)INT32_MAX) found[count++] = (pid_t)value;
        value = 0;
        in_number = 0;
      }
    }
  }
  if (in_number && count < MAX_ORPHANS_PER_SCAN && value <= (uint64_t)INT32_MAX) found[count++] = (pid_t)value;

  unsigned orphans = 0;
  for (unsigned i = 0; i < count; i++) {
    if (found[i] <= 0 || is_tracked_pid(found[i]) || found[i] == ns_twin_pid()) continue;
    orphans++;
    (void)kill(found[i], SIGKILL);
    (void)wait4(found[i], NULL, block ? 0 : WNOHANG, NULL);
  }
  return orphans;
}

void shutdown_zygote(int status);

/* SIGCHLD: look for orphans. SIGHUP (Node's thread died: the parent-death
 * signal) or SIGTERM: shut down like on EOF, killing every tree first. */
static void drain_signals(void) {
  struct signalfd_siginfo info[16];
  ssize_t got;
  int stop = 0;
  while ((got = read(signal_fd, info, sizeof info)) > 0) {
    for (size_t i = 0; i < (size_t)got / sizeof info[0]; i++)
      if (info[i].ssi_signo == SIGHUP || info[i].ssi_signo == SIGTERM) stop = 1;
  }
  if (stop) shutdown_zygote(0);
  (void)reap_orphans(0);
}

/* Node is gone (or unreachable): nothing started here may outlive the zygote. */
void shutdown_zygote(int status) {
  ns_twin_stop();
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++)
    if (children[i].used) signal_tree(&children[i], SIGKILL);
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++) {
    if (!children[i].used) continue;
    (void)wait4(children[i].pid, NULL, 0, NULL);
    if (children[i].has_kill_uid) hatch_kill_uid(children[i].kill_uid);
    release_child(&children[i]);
  }
  for (int round = 0; round < MAX_SHUTDOWN_ROUNDS && reap_orphans(1) > 0; round++) {
  }
  _exit(status);
}

/* ---- main loop -------------------------------------------------------- */

enum poll_kind { POLL_CONTROL, POLL_SIGNAL, POLL_ERR_PIPE, POLL_PIDFD, POLL_TIMER };

/* Per child: the error pipe; or the pidfd, a timer, and an init's error pipe. */
static struct pollfd poll_fds[2 + 3 * HATCH_CHILD_SLOTS];
static struct {
  enum poll_kind kind;
  struct child *child;
} poll_owner[2 + 3 * HATCH_CHILD_SLOTS];

static unsigned add_poll(unsigned n, int fd, enum poll_kind kind, struct child *c) {
  poll_fds[n] = (struct pollfd){.fd = fd, .events = POLLIN};
  poll_owner[n].kind = kind;
  poll_owner[n].child = c;
  return n + 1;
}

static unsigned build_poll_set(void) {
  unsigned n = 0;
  n = add_poll(n, CONTROL_FD, POLL_CONTROL, NULL);
  if (outbox_pending()) poll_fds[n - 1].events |= POLLOUT;
  n = add_poll(n, signal_fd, POLL_SIGNAL, NULL);
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++) {
    struct child *c = &children[i];
    if (!c->used) continue;
    /*
     * The pidfd waits until the exec outcome is known, so SPAWNED always
     * precedes EXIT. After that the pipe only carries an init's last reports.
     */
    if (c->err_fd >= 0 && !c->spawned) {
      n = add_poll(n, c->err_fd, POLL_ERR_PIPE, c);
      continue;
    }
    /* An init's last report may come before its exit (HATCH_REPORT_TREE_GONE): read it when written. */
    if (c->err_fd >= 0 && c->has_init && !c->reported) n = add_poll(n, c->err_fd, POLL_ERR_PIPE, c);
    n = add_poll(n, c->pidfd, POLL_PIDFD, c);
    if (c->timer_armed) n = add_poll(n, c->timer_fd, POLL_TIMER, c);
  }
  return n;
}

static uint64_t ms_to_ns(uint32_t ms) { return (uint64_t)ms * 1000000u; }

/* Whatever is due next: the orphan scan while children live, else the idle exit. */
static int poll_timeout_ms(void) {
  uint64_t deadline;
  if (live_children > 0) deadline = last_orphan_scan_ns + ms_to_ns(ORPHAN_SCAN_INTERVAL_MS);
  /* Not idle while replies still wait for Node: they go out first. */
  else if (handshake_done && idle_timeout_ms > 0 && !outbox_pending())
    deadline = idle_since_ns + ms_to_ns(idle_timeout_ms);
  else return -1;
  return hatch_ms_until(deadline);
}

/* The sooner of two poll timeouts (-1: none). */
static int sooner(int a, int b) { return a < 0 ? b : b < 0 ? a : a < b ? a : b; }

static void run_due_timers(void) {
  if (ns_stock_release_due_ms() == 0) ns_stock_release_used();
  if (poll_timeout_ms() != 0) return;
  if (live_children > 0) (void)reap_orphans(0);
  else shutdown_zygote(0);
}

static void dispatch(unsigned i) {
  struct child *c = poll_owner[i].child;
  /* An earlier event in this round may have released the slot. */
  if (c != NULL && !c->used) return;
  switch (poll_owner[i].kind) {
  case POLL_CONTROL:
    if (poll_fds[i].revents & POLLOUT) flush_outbox();
    if (poll_fds[i].revents & ~POLLOUT) on_control();
    break;
  case POLL_SIGNAL:
    drain_signals();
    break;
  case POLL_ERR_PIPE:
    if (c->err_fd == poll_fds[i].fd) on_error_pipe(c);
    break;
  case POLL_PIDFD:
    if (c->pidfd == poll_fds[i].fd) on_child_exit(c);
    break;
  case POLL_TIMER:
    if (c->timer_fd == poll_fds[i].fd && c->timer_armed) on_timer(c);
    break;
  }
}

static void setup_process(void) {
  /* 0..2 must be taken, or pipe2/recvmsg could hand out fds that stdio dup2s would clobber. */
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd) hatch_die(1, "cannot reopen fd %d", fd);
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt(CONTROL_FD, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET)
    hatch_die(1, "fd %d is not a SOCK_SEQPACKET control socket", CONTROL_FD);
  (void)fcntl(CONTROL_FD, F_SETFD, FD_CLOEXEC);
  /* Fds leaked by the spawner would keep Node's pipes open and delay their EOF. */
  (void)syscall(SYS_close_range, CONTROL_FD + 1, ~0u, 0);

  /* A catchable parent-death signal: dying by SIGKILL would skip the shutdown that kills every child tree. */
  if (prctl(PR_SET_PDEATHSIG, SIGHUP, 0, 0, 0) != 0) hatch_die(1, "PR_SET_PDEATHSIG: %s", strerror(errno));
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) hatch_die(1, "PR_SET_CHILD_SUBREAPER: %s", strerror(errno));
  hatch_zygote_signal_dispositions();
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigaddset(&chld, SIGHUP);
  sigaddset(&chld, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) hatch_die(1, "sigprocmask: %s", strerror(errno));
  signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) hatch_die(1, "signalfd: %s", strerror(errno));

  zygote_pid = getpid();
  char pid_text[24];
  hatch_utoa((uint64_t)zygote_pid, pid_text);
  static const char head[] = "/proc/self/task/";
  size_t n = 0;
  for (size_t i = 0; head[i]; i++) children_path[n++] = head[i];
  for (size_t i = 0; pid_text[i]; i++) children_path[n++] = pid_text[i];
  static const char tail[] = "/children";
  for (size_t i = 0; tail[i]; i++) children_path[n++] = tail[i];
  children_path[n] = '\0';
}

/* The stock's work, by the twin when it has one (ns_twin.c): the namespaces are the twin's to enter. */
static int work_one(void *unused) {
  (void)unused;
  ns_stock_work_one();
  return 0;
}

static int work_while_busy(void *unused) {
  (void)unused;
  ns_stock_work_while_busy();
  return 0;
}

static void stock_work(int (*work)(void *)) {
  if (ns_twin_running()) (void)ns_twin_call(work, NULL);
  else (void)work(NULL);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--probe") == 0) return hatch_probe_main(argc, argv);
  if (argc > 1 && strcmp(argv[1], "--kill-uid") == 0) return hatch_kill_uid_main(argc, argv);
  setup_process();
  for (;;) {
    unsigned n = build_poll_set();
    /* Nothing to do right now: a good moment to read a namespace back from its operation, or make the next spawn's (ns_stock.c). */
    int stocking = ns_stock_has_work();
    int timeout = stocking ? 0 : sooner(poll_timeout_ms(), ns_stock_release_due_ms());
    int ready = poll(poll_fds, n, timeout);
    if (ready == 0 && stocking) stock_work(work_one);
    if (ready < 0) {
      if (errno == EINTR) continue;
      hatch_log("poll: %s", strerror(errno));
      shutdown_zygote(1);
    }
    if (ready > 0) {
      /* Children first, the control socket last: a SPAWN may reuse a slot released this round. */
      for (unsigned i = 2; i < n; i++)
        if (poll_fds[i].revents) dispatch(i);
      if (poll_fds[1].revents) dispatch(1);
      if (poll_fds[0].revents) dispatch(0);
      if (ns_stock_has_busy_work()) stock_work(work_while_busy);
    }
    run_due_timers();
  }
}
