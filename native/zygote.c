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

#define CONTROL_FD 3
#define STDIO_FDS 3u
#define ARGS_FD_INDEX 3u
#define SEND_TIMEOUT_MS 1000
#define DEFAULT_GRACE_MS 2000u
#define MAX_ORPHANS_PER_SCAN 1024u
/* A live orphan is reparented without any SIGCHLD, so it is looked for on a timer too. */
#define ORPHAN_SCAN_INTERVAL_MS 200u
#define MAX_SHUTDOWN_ROUNDS 1000

_Static_assert(HATCH_ARGS_FILE_SEALS_REQUIRED == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
               "protocol.h names the seals an args file needs");

enum kill_state { KILL_NONE, KILL_GRACE, KILL_SENT };
/* "/proc/<pid>/root" + the private tmpfs's mount point (/tmp or /var/tmp) */
#define TMP_PATH_MAX 64

struct child {
  int used;
  uint32_t id;
  pid_t pid;
  int pidfd;
  int err_fd;   /* read end of the error pipe (struct hatch_child_report) until EOF, then -1 */
  int timer_fd; /* -1 until a timeout or escalation needs one */
  int timer_armed;
  enum kill_state kill_state;
  uint32_t reasons;
  uint32_t timeout_ms, grace_ms, term_signal;
  uint64_t exec_ns;
  int has_init;       /* CLONE_NEWPID: pid is our init, the program is its pid 2 */
  int spawned;        /* SPAWNED was sent */
  int has_program_status;
  int program_status; /* the program's wait status, reported by the init */
  uint32_t kill_uid;  /* with HATCH_SPAWN_KILL_UID: every process of this uid dies with the child */
  int has_kill_uid;
  /* Without an init to report it, the zygote watches the private tmpfs itself (an O_PATH fd keeps it alive). */
  char tmp_path[TMP_PATH_MAX];
  int tmp_fd;
  /* The init reported the tree gone (HATCH_REPORT_TREE_GONE) and EXIT was sent: only the reaping is left. */
  int reported;
  int has_usage; /* the init's HATCH_REPORT_USAGE, for the early EXIT */
  uint64_t user_cpu_us, sys_cpu_us, max_rss_bytes;
  int tracing; /* HATCH_SPAWN_TRACE: trace_ns collects the events, sent as a TRACE before the last reply */
  uint64_t trace_ns[HATCH_TRACE_EVENTS];
};

static struct child children[HATCH_MAX_CHILDREN];
static unsigned live_children;
static struct hatch_plan plan;
/* One datagram; the extra byte lets an oversized one show up as such. */
static uint8_t rx[HATCH_MAX_MESSAGE + 1] __attribute__((aligned(8)));
static uint8_t tx[HATCH_REPLY_MAX] __attribute__((aligned(8)));
static int signal_fd = -1;
static pid_t zygote_pid;
static char children_path[64];
static int handshake_done;
static uint32_t idle_timeout_ms;
static uint64_t idle_since_ns;
static uint64_t last_orphan_scan_ns;
/* When the datagram being handled was read (HATCH_TRACE_RECEIVED). */
static uint64_t received_ns;

static _Noreturn void shutdown_zygote(int status);

/* ---- replies ---------------------------------------------------------- */

/* Replies are tiny; a peer that cannot take one within a second is gone. */
static void send_datagram(const uint8_t *buf, size_t len, int fd_to_pass) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  if (fd_to_pass >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd_to_pass, sizeof(int));
  }
  uint64_t deadline = hatch_now_ns() + (uint64_t)SEND_TIMEOUT_MS * 1000000u;
  for (;;) {
    if (sendmsg(CONTROL_FD, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) shutdown_zygote(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
    uint64_t now = hatch_now_ns();
    if (now >= deadline) shutdown_zygote(1);
    struct pollfd p = {.fd = CONTROL_FD, .events = POLLOUT};
    (void)poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
  }
}

static void send_error(uint32_t id, int code, const char *why) {
  send_datagram(tx, hatch_encode_error(tx, id, (uint32_t)code, why), -1);
}

/* ---- child table ------------------------------------------------------ */

static void trace(struct child *c, uint32_t event) {
  if (c->tracing && event < HATCH_TRACE_EVENTS) c->trace_ns[event] = hatch_now_ns();
}

/* Before the spawn's last reply (SPAWN_FAILED or EXIT), which ends its id. */
static void send_trace(const struct child *c) {
  if (c->tracing) send_datagram(tx, hatch_encode_trace(tx, c->id, c->trace_ns), -1);
}

/* A running spawn by id; one whose EXIT was sent is no longer one, though its init may still be exiting. */
static struct child *find_child(uint32_t id) {
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++)
    if (children[i].used && !children[i].reported && children[i].id == id) return &children[i];
  return NULL;
}

static int is_tracked_pid(pid_t pid) {
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++)
    if (children[i].used && children[i].pid == pid) return 1;
  return 0;
}

static struct child *free_slot(void) {
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++)
    if (!children[i].used) return &children[i];
  return NULL;
}

static void release_child(struct child *c) {
  hatch_closep(&c->tmp_fd);
  hatch_closep(&c->pidfd);
  hatch_closep(&c->err_fd);
  hatch_closep(&c->timer_fd);
  c->used = 0;
  live_children--;
  if (live_children == 0) idle_since_ns = hatch_now_ns();
}

static int pidfd_signal(int pidfd, int signo) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0);
}

/*
 * The child leads its own session and group; the pidfd also reaches it if it
 * left the group. In a pid namespace the init forwards a signal carrying the
 * cookie to every process in it; SIGKILL needs no help: the init's death
 * takes the namespace with it.
 */
static void signal_tree(const struct child *c, int signo) {
  if (c->has_init && signo != SIGKILL && signo != 0) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    info.si_signo = signo;
    info.si_code = SI_QUEUE; /* the kernel refuses si_code >= 0 from another process */
    info.si_pid = zygote_pid;
    info.si_uid = getuid();
    info.si_value.sival_int = HATCH_TREE_SIGNAL_COOKIE;
    (void)syscall(SYS_pidfd_send_signal, c->pidfd, signo, &info, 0);
    return;
  }
  (void)kill(-c->pid, signo);
  (void)pidfd_signal(c->pidfd, signo);
}

static int arm_timer(struct child *c, uint32_t ms) {
  if (c->timer_fd < 0) {
    c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (c->timer_fd < 0) return -errno;
  }
  struct itimerspec spec = {.it_value = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L}};
  if (timerfd_settime(c->timer_fd, 0, &spec, NULL) != 0) return -errno;
  c->timer_armed = 1;
  return 0;
}

static void kill_now(struct child *c) {
  signal_tree(c, SIGKILL);
  c->reasons |= HATCH_EXIT_ESCALATED;
  c->kill_state = KILL_SENT;
  c->timer_armed = 0;
}

/* Term signal now, SIGKILL of the tree after the grace period. */
static void start_escalation(struct child *c, int signo, uint32_t reason) {
  c->reasons |= reason;
  if (c->kill_state != KILL_NONE) return;
  signal_tree(c, signo);
  c->kill_state = KILL_GRACE;
  if (c->grace_ms == 0 || arm_timer(c, c->grace_ms) != 0) kill_now(c);
}

/* ---- orphans ---------------------------------------------------------- */

/*
 * As a subreaper the zygote inherits every grandchild whose parent died,
 * including ones that escaped the child's process group. None of them may
 * outlive their child, so each is killed and reaped. Returns how many were found.
 */
static unsigned reap_orphans(int block) {
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
    if (found[i] <= 0 || is_tracked_pid(found[i])) continue;
    orphans++;
    (void)kill(found[i], SIGKILL);
    (void)wait4(found[i], NULL, block ? 0 : WNOHANG, NULL);
  }
  return orphans;
}

static void shutdown_zygote(int status);

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
static void shutdown_zygote(int status) {
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++)
    if (children[i].used) signal_tree(&children[i], SIGKILL);
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++) {
    if (!children[i].used) continue;
    (void)wait4(children[i].pid, NULL, 0, NULL);
    release_child(&children[i]);
  }
  for (int round = 0; round < MAX_SHUTDOWN_ROUNDS && reap_orphans(1) > 0; round++) {
  }
  _exit(status);
}

/* ---- child lifecycle -------------------------------------------------- */

static uint64_t timeval_us(struct timeval tv) { return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec; }

static void read_reports(struct child *c);

/*
 * Without a pid namespace, a tree whose uid is its operation's own dies by
 * that uid: a helper takes the uid and kill(-1)s until nothing is left, so
 * no session, group or double fork escapes. Bounded: each round kills all it
 * can see, and only those survivors can have forked since.
 */
#define KILL_UID_ROUNDS 64

static void kill_uid(uint32_t uid) {
  pid_t pid = fork();
  if (pid < 0) {
    hatch_log("fork for killing uid %u failed: %s", uid, strerror(errno));
    return;
  }
  if (pid == 0) {
    if (syscall(SYS_setresgid, uid, uid, uid) != 0 || syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(1);
    for (int round = 0; round < KILL_UID_ROUNDS; round++)
      if (kill(-1, SIGKILL) != 0) _exit(0);
    _exit(2);
  }
  while (wait4(pid, NULL, 0, NULL) < 0 && errno == EINTR) {
  }
}

/* status: a wait status, or -1 when wait4 failed. */
static struct hatch_exit_body exit_body(const struct child *c, int status, uint64_t user_us, uint64_t sys_us,
                                        uint64_t max_rss_bytes) {
  struct hatch_exit_body exit = {
      .exit_code = (status >= 0 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1,
      .term_signal = (status >= 0 && WIFSIGNALED(status)) ? WTERMSIG(status) : 0,
      .reasons = c->reasons,
      .user_cpu_us = user_us,
      .sys_cpu_us = sys_us,
      .max_rss_bytes = max_rss_bytes,
      .wall_us = (hatch_now_ns() - c->exec_ns) / 1000u,
  };
  return exit;
}

/*
 * The init reported the program's status with every other process of the
 * namespace reaped (HATCH_REPORT_TREE_GONE): EXIT goes now, while the init's
 * exit tears the namespaces down; on_child_exit only reaps it later.
 */
static void report_exit_early(struct child *c) {
  trace(c, HATCH_TRACE_EXIT_SEEN);
  struct hatch_exit_body exit = exit_body(c, c->program_status, c->user_cpu_us, c->sys_cpu_us, c->max_rss_bytes);
  send_trace(c);
  send_datagram(tx, hatch_encode_exit(tx, c->id, &exit), -1);
  c->reported = 1;
  c->timer_armed = 0;
  hatch_closep(&c->timer_fd);
}

static void on_child_exit(struct child *c) {
  int reported = c->reported;
  if (!reported) trace(c, HATCH_TRACE_EXIT_SEEN);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  /* Kill the group before reaping: while the leader is an unreaped zombie its pid cannot be reused. */
  (void)kill(-c->pid, SIGKILL);
  if (c->has_kill_uid) kill_uid(c->kill_uid);
  pid_t r;
  do r = wait4(c->pid, &status, 0, &ru);
  while (r < 0 && errno == EINTR);
  if (reported) {
    release_child(c);
    (void)reap_orphans(0);
    return;
  }
  /* The init wrote the program's status before it exited; every writer is gone now. */
  if (c->err_fd >= 0) read_reports(c);
  if (!c->used || c->reported) return; /* that last report was the early exit after all */
  trace(c, HATCH_TRACE_REAPED);
  if (c->has_program_status) status = c->program_status, r = c->pid;
  struct hatch_exit_body exit = exit_body(c, r > 0 ? status : -1, timeval_us(ru.ru_utime), timeval_us(ru.ru_stime),
                                          (uint64_t)ru.ru_maxrss * 1024u);
  if (c->tmp_fd >= 0) {
    struct statfs st;
    if (fstatfs(c->tmp_fd, &st) == 0 && (st.f_bavail == 0 || st.f_ffree == 0)) exit.reasons |= HATCH_EXIT_TMP_FULL;
  }
  uint32_t id = c->id;
  send_trace(c);
  release_child(c);
  (void)reap_orphans(0);
  send_datagram(tx, hatch_encode_exit(tx, id, &exit), -1);
}

/* The program has exec'd, so its mounts are in place: hold its private tmpfs to read its fill at exit. */
static void watch_private_tmp(struct child *c) {
  if (c->has_init || c->tmp_path[0] == '\0') return;
  static char path[TMP_PATH_MAX + 32];
  size_t at = 0;
  static const char head[] = "/proc/";
  for (size_t i = 0; head[i]; i++) path[at++] = head[i];
  at += hatch_utoa((uint64_t)c->pid, path + at);
  static const char root[] = "/root";
  for (size_t i = 0; root[i]; i++) path[at++] = root[i];
  for (size_t i = 0; c->tmp_path[i]; i++) path[at++] = c->tmp_path[i];
  path[at] = '\0';
  c->tmp_fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void spawn_succeeded(struct child *c) {
  c->spawned = 1;
  c->exec_ns = hatch_now_ns();
  trace(c, HATCH_TRACE_EXEC_SEEN);
  watch_private_tmp(c);
  send_datagram(tx, hatch_encode_spawned(tx, c->id, (uint32_t)c->pid), c->pidfd);
  trace(c, HATCH_TRACE_SPAWNED_SENT);
  if (c->timeout_ms > 0 && c->kill_state == KILL_NONE && arm_timer(c, c->timeout_ms) != 0)
    hatch_log("timerfd for spawn %u failed; it runs without a timeout", c->id);
}

/* torn: the child said something unexpected, so it is not trusted to exit by itself. */
static void spawn_failed(struct child *c, uint32_t stage, int32_t err, int torn) {
  if (torn) signal_tree(c, SIGKILL);
  while (wait4(c->pid, NULL, 0, NULL) < 0 && errno == EINTR) {
  }
  trace(c, HATCH_TRACE_REAPED);
  uint32_t id = c->id;
  send_trace(c);
  release_child(c);
  (void)reap_orphans(0);
  send_datagram(tx, hatch_encode_spawn_failed(tx, id, stage, err), -1);
}

/*
 * One struct hatch_child_report at a time (see plan.h). Returns 0 while the
 * child slot is still in use and more may follow, 1 when done with the pipe
 * (EOF, nothing more for now, or the slot was released).
 */
static int read_report(struct child *c) {
  struct hatch_child_report r;
  ssize_t k;
  do k = read(c->err_fd, &r, sizeof r);
  while (k < 0 && errno == EINTR);
  if (k < 0 && errno == EAGAIN) return 1;
  if (k == 0) {
    hatch_closep(&c->err_fd);
    if (c->spawned) return 1;
    /* Without an init, EOF is the successful execve; an init always says so first. */
    if (!c->has_init) spawn_succeeded(c);
    else spawn_failed(c, HATCH_STAGE_INIT, EIO, 1);
    return 1;
  }
  int whole = k == (ssize_t)sizeof r;
  if (whole && (r.kind == HATCH_REPORT_TRACE || r.kind == HATCH_REPORT_USAGE)) {
    struct hatch_child_value_report v;
    memcpy(&v, &r, sizeof v);
    if (r.kind == HATCH_REPORT_TRACE && c->tracing && v.key < HATCH_TRACE_EVENTS) c->trace_ns[v.key] = v.value;
    if (r.kind == HATCH_REPORT_USAGE) {
      c->has_usage = 1;
      if (v.key == HATCH_USAGE_USER_US) c->user_cpu_us = v.value;
      if (v.key == HATCH_USAGE_SYS_US) c->sys_cpu_us = v.value;
      if (v.key == HATCH_USAGE_MAX_RSS_BYTES) c->max_rss_bytes = v.value;
    }
    return 0;
  }
  if (whole && !c->spawned && r.kind == HATCH_REPORT_FAILURE) {
    spawn_failed(c, (uint32_t)r.a, r.b, 0);
    return 1;
  }
  if (whole && !c->spawned && c->has_init && r.kind == HATCH_REPORT_EXEC_OK) {
    spawn_succeeded(c);
    return 0;
  }
  if (whole && c->spawned && !c->has_program_status && r.kind == HATCH_REPORT_EXIT_STATUS) {
    c->has_program_status = 1;
    c->program_status = r.a;
    if ((uint32_t)r.b & HATCH_REPORT_TMP_FULL) c->reasons |= HATCH_EXIT_TMP_FULL;
    if (((uint32_t)r.b & HATCH_REPORT_TREE_GONE) && c->has_usage && !c->reported) report_exit_early(c);
    return 0;
  }
  if (!c->spawned) {
    spawn_failed(c, HATCH_STAGE_CLONE, EIO, 1);
    return 1;
  }
  /* Past SPAWNED only the init writes here; a garbled report costs the exit status, nothing else. */
  hatch_log("spawn %u: unexpected child report; the exit status comes from wait4", c->id);
  hatch_closep(&c->err_fd);
  return 1;
}

static void read_reports(struct child *c) {
  while (c->used && c->err_fd >= 0 && read_report(c) == 0) {
  }
}

static void on_error_pipe(struct child *c) { read_reports(c); }

static void on_timer(struct child *c) {
  uint64_t ticks;
  (void)read(c->timer_fd, &ticks, sizeof ticks);
  c->timer_armed = 0;
  if (c->kill_state == KILL_NONE)
    start_escalation(c, (int)c->term_signal, HATCH_EXIT_TIMED_OUT);
  else if (c->kill_state == KILL_GRACE)
    kill_now(c);
}

/*
 * clone3 where it works; clone(CLONE_PIDFD) where a container's seccomp
 * profile answers clone3 with ENOSYS (Docker, containerd, Podman do, so that
 * their filter can inspect clone's flags) or EPERM. Both return the pidfd and
 * run the child on the zygote's stack copy (no CLONE_VM): fork semantics.
 */
static int clone3_refused;

static long clone_child(uint32_t ns_flags, int *pidfd) {
  if (!clone3_refused) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD | ns_flags;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || (errno != ENOSYS && errno != EPERM)) return pid;
    /* EPERM may be the namespaces, not clone3: only a clone that then works proves the filter. */
    int clone3_errno = errno;
    pid = syscall(SYS_clone, (unsigned long)(CLONE_PIDFD | ns_flags | SIGCHLD), 0, pidfd, NULL, 0);
    if (pid != 0 && (pid > 0 || clone3_errno == ENOSYS)) clone3_refused = 1;
    if (pid < 0 && clone3_errno == EPERM) errno = EPERM;
    return pid;
  }
  return syscall(SYS_clone, (unsigned long)(CLONE_PIDFD | ns_flags | SIGCHLD), 0, pidfd, NULL, 0);
}

/*
 * The args file of a SPAWN (HATCH_TAG_ARGS_FD), mapped read-only with a
 * pointer array beside it for argv and envp. Both are unmapped once clone3
 * has returned in the parent: the child has its own copy of every mapping.
 * The file's pages are shared with Node's memfd; the pointer array holds
 * exactly one pointer per string and the two NULLs.
 */
struct args_mapping {
  void *file;
  size_t file_len;
  void *slots;
  size_t slots_len;
};

static void unmap_args(struct args_mapping *m) {
  if (m->file != NULL) (void)munmap(m->file, m->file_len);
  if (m->slots != NULL) (void)munmap(m->slots, m->slots_len);
  memset(m, 0, sizeof *m);
}

/* Returns 0 or -errno (reported as HATCH_STAGE_CLONE). Consumes nothing: the caller closes stdio and unmaps args. */
static int start_child(struct child *c, uint32_t id, const int stdio[3], const struct args_mapping *args) {
  hatch_autoclose int err_read = -1;
  hatch_autoclose int err_write = -1;
  hatch_autoclose int sync_read = -1;
  hatch_autoclose int sync_write = -1;
  int pipe_fds[2];
  /* Non-blocking: the zygote drains reports until EAGAIN; the child's few 16-byte writes never block. */
  if (pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) != 0) return -errno;
  err_read = pipe_fds[0];
  err_write = pipe_fds[1];
  uint32_t ns_flags = plan.has_namespaces ? plan.namespaces.clone_flags : 0;
  int new_user_ns = (ns_flags & CLONE_NEWUSER) != 0;
  if (new_user_ns) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -errno;
    sync_read = pipe_fds[0];
    sync_write = pipe_fds[1];
  }

  int pidfd = -1;
  uint64_t parsed_ns = hatch_now_ns();
  long pid = clone_child(ns_flags, &pidfd);
  if (pid < 0) return -errno;
  uint64_t cloned_ns = hatch_now_ns();
  if (pid == 0) {
    struct hatch_child_args child = {
        .plan = &plan,
        .stdio = {stdio[0], stdio[1], stdio[2]},
        .err_fd = err_write,
        .sync_fd = sync_read,
        .zygote_pid = zygote_pid,
        .args_file = args->file,
        .args_file_len = args->file_len,
        .args_slots = args->slots,
        .args_slots_len = args->slots_len,
    };
    hatch_child_run(&child);
  }

  /* Only the child may hold the write end, or EOF would never report the exec. */
  hatch_closep(&err_write);
  hatch_closep(&sync_read);
  if (new_user_ns) {
    /* On failure the child reads EOF instead of the byte and reports HATCH_STAGE_USERNS. */
    int rc = hatch_parent_write_id_maps(&plan, (int)pid, geteuid(), getegid());
    if (rc == 0) (void)hatch_write_all(sync_write, "1", 1);
    else hatch_log("writing id maps for spawn %u failed: %s", id, strerror(-rc));
    hatch_closep(&sync_write);
  }
  uint64_t id_maps_ns = new_user_ns ? hatch_now_ns() : 0;

  memset(c, 0, sizeof *c);
  c->used = 1;
  c->id = id;
  c->pid = (pid_t)pid;
  c->pidfd = pidfd;
  c->err_fd = err_read;
  err_read = -1;
  c->timer_fd = -1;
  c->kill_state = KILL_NONE;
  c->timeout_ms = plan.has_timeout ? plan.timeout.timeout_ms : 0;
  c->grace_ms = plan.has_timeout ? plan.timeout.grace_ms : DEFAULT_GRACE_MS;
  c->term_signal = plan.has_timeout ? plan.timeout.term_signal : SIGTERM;
  c->exec_ns = hatch_now_ns();
  c->has_init = (ns_flags & CLONE_NEWPID) != 0;
  c->has_kill_uid = (plan.flags & HATCH_SPAWN_KILL_UID) && plan.has_credentials && plan.uid != 0 && geteuid() == 0;
  c->kill_uid = plan.uid;
  c->tmp_fd = -1;
  if (plan.has_private_tmp && strlen(plan.private_tmp_path) < sizeof c->tmp_path)
    memcpy(c->tmp_path, plan.private_tmp_path, strlen(plan.private_tmp_path) + 1);
  if (plan.flags & HATCH_SPAWN_TRACE) {
    c->tracing = 1;
    c->trace_ns[HATCH_TRACE_RECEIVED] = received_ns;
    c->trace_ns[HATCH_TRACE_PARSED] = parsed_ns;
    c->trace_ns[HATCH_TRACE_CLONED] = cloned_ns;
    c->trace_ns[HATCH_TRACE_ID_MAPS] = id_maps_ns;
  }
  live_children++;
  return 0;
}

/* ---- requests --------------------------------------------------------- */

static void close_fds(int *fds, unsigned n) {
  for (unsigned i = 0; i < n; i++) hatch_close(fds[i]);
}

static void handle_hello(const struct hatch_header *h) {
  const char *why = NULL;
  uint32_t version, idle_ms;
  int code = hatch_parse_hello(rx + HATCH_HEADER_SIZE, h->body_length, &version, &idle_ms, &why);
  if (code == 0 && handshake_done) code = HATCH_ERR_MALFORMED, why = "repeated HELLO";
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  if (version != HATCH_PROTOCOL_VERSION) {
    send_error(h->id, HATCH_ERR_VERSION, "unsupported protocol version");
    shutdown_zygote(2);
  }
  handshake_done = 1;
  idle_timeout_ms = idle_ms;
  idle_since_ns = hatch_now_ns();
  send_datagram(tx,
                hatch_encode_hello_ok(tx, h->id, HATCH_PROTOCOL_VERSION, (uint32_t)zygote_pid, HATCH_MAX_MESSAGE,
                                      HATCH_MAX_CHILDREN),
                -1);
}

/*
 * A pipe Node made is root's, mode 0600, when the caller is root; the
 * child's own uid could then not reopen it through /dev/stdout
 * (/proc/self/fd/1), which programs expect to work. Only anonymous pipes
 * (on pipefs) are opened up: a named FIFO passed in keeps the mode it has
 * on disk. No one else can reach an anonymous pipe by name.
 */
static dev_t pipefs_dev;

static void learn_pipefs(void) {
  int p[2];
  struct stat st;
  if (pipe2(p, O_CLOEXEC) != 0) return;
  if (fstat(p[0], &st) == 0) pipefs_dev = st.st_dev;
  hatch_close(p[0]);
  hatch_close(p[1]);
}

static void open_pipes_to_child(const int stdio[3]) {
  for (int i = 0; i < 3; i++) {
    struct stat st;
    if (fstat(stdio[i], &st) != 0 || !S_ISFIFO(st.st_mode) || st.st_dev != pipefs_dev) continue;
    if (st.st_uid == geteuid() && (st.st_mode & 0777) != 0666) (void)fchmod(stdio[i], 0666);
  }
}

/*
 * Returns 0, a positive enum hatch_error_code with *why (a malformed
 * request), or -errno (the zygote could not map it: SPAWN_FAILED at clone).
 * Only a sealed memfd is taken: its size and bytes cannot change under the
 * mapping, so the parse holds until exec and no truncation can SIGBUS us.
 */
static int map_args_file(int fd, struct args_mapping *m, const char **why) {
  memset(m, 0, sizeof *m);
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode)) {
    *why = "the args fd is not a regular file";
    return HATCH_ERR_BAD_FDS;
  }
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & HATCH_ARGS_FILE_SEALS_REQUIRED) != HATCH_ARGS_FILE_SEALS_REQUIRED) {
    *why = "the args fd is not a memfd sealed against shrinking, growing and writing";
    return HATCH_ERR_BAD_FDS;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size != plan.args_file_length) {
    *why = "the args file's size disagrees with its ARGS_FD record";
    return HATCH_ERR_MALFORMED;
  }
  size_t len = (size_t)plan.args_file_length; /* <= HATCH_MAX_ARGS_FILE, checked by the parse */
  void *file = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (file == MAP_FAILED) return -errno;
  m->file = file;
  m->file_len = len;
  /* Exactly the slots the records need (at most len / 16 + 2), populated in one go: faulting them in one by one costs more than the parse. */
  size_t argc, envc;
  hatch_count_args_file(file, len, &argc, &envc);
  m->slots_len = (argc + 1 + envc + 1) * sizeof(const char *);
  void *slots = mmap(NULL, m->slots_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (slots == MAP_FAILED) {
    int err = errno;
    unmap_args(m);
    return -err;
  }
  m->slots = slots;
  const char **argv = (const char **)slots;
  int code = hatch_parse_args_file(file, len, &plan, argv, argc, argv + argc + 1, envc, why);
  if (code != 0) unmap_args(m);
  return code;
}

static void handle_spawn(const struct hatch_header *h, int fds[], unsigned nfds) {
  const char *why = NULL;
  int code = hatch_parse_spawn(rx + HATCH_HEADER_SIZE, h->body_length, nfds, &plan, &why);
  struct child *c = NULL;
  struct args_mapping args = {0};
  if (code == 0 && find_child(h->id) != NULL) code = HATCH_ERR_MALFORMED, why = "spawn id already running";
  if (code == 0 && (c = free_slot()) == NULL) code = HATCH_ERR_TOO_MANY_CHILDREN, why = "too many children";
  int map_err = 0;
  if (code == 0 && plan.has_args_file) {
    int rc = map_args_file(fds[ARGS_FD_INDEX], &args, &why);
    if (rc < 0) map_err = -rc;
    else code = rc;
  }
  /* The mapping holds the file: the fd is not needed past here, and is never the child's. */
  if (nfds > STDIO_FDS) close_fds(fds + STDIO_FDS, nfds - STDIO_FDS);
  if (code != 0 || map_err != 0) {
    close_fds(fds, STDIO_FDS);
    if (code != 0) send_error(h->id, code, why);
    else send_datagram(tx, hatch_encode_spawn_failed(tx, h->id, HATCH_STAGE_CLONE, map_err), -1);
    return;
  }
  open_pipes_to_child(fds);
  int rc = start_child(c, h->id, fds, &args);
  unmap_args(&args);
  close_fds(fds, STDIO_FDS);
  if (rc != 0) send_datagram(tx, hatch_encode_spawn_failed(tx, h->id, HATCH_STAGE_CLONE, -rc), -1);
}

static void handle_signal(const struct hatch_header *h) {
  const char *why = NULL;
  uint32_t signo, scope;
  int code = hatch_parse_signal(rx + HATCH_HEADER_SIZE, h->body_length, &signo, &scope, &why);
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  struct child *c = find_child(h->id);
  if (c == NULL) {
    send_error(h->id, HATCH_ERR_NO_SUCH_CHILD, "no running child with that id");
    return;
  }
  if (scope == HATCH_SCOPE_PROCESS) {
    (void)pidfd_signal(c->pidfd, (int)signo);
  } else if (scope == HATCH_SCOPE_TREE) {
    c->reasons |= HATCH_EXIT_KILL_REQUESTED;
    signal_tree(c, (int)signo);
  } else {
    start_escalation(c, (int)signo, HATCH_EXIT_KILL_REQUESTED);
  }
}

static void handle_ping(const struct hatch_header *h) {
  const char *why = NULL;
  uint64_t token;
  int code = hatch_parse_ping(rx + HATCH_HEADER_SIZE, h->body_length, &token, &why);
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  send_datagram(tx, hatch_encode_pong(tx, h->id, token), -1);
}

/* SEQPACKET reads 0 both at EOF and for an empty datagram; only the former hangs up. */
static int peer_hung_up(void) {
  struct pollfd p = {.fd = CONTROL_FD, .events = POLLIN | POLLRDHUP};
  int ready = poll(&p, 1, 0);
  return ready < 0 || (ready == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0);
}

static void on_control(void) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * HATCH_MAX_FDS_PER_MESSAGE)];
  } control;
  struct iovec iov = {.iov_base = rx, .iov_len = sizeof rx};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n = recvmsg(CONTROL_FD, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  received_ns = hatch_now_ns();
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    shutdown_zygote(errno == ECONNRESET ? 0 : 1);
  }

  int fds[HATCH_MAX_FDS_PER_MESSAGE];
  unsigned nfds = 0;
  int extra_fds = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      if (nfds < HATCH_MAX_FDS_PER_MESSAGE) fds[nfds++] = fd;
      else {
        hatch_close(fd);
        extra_fds = 1;
      }
    }
  }
  if (n == 0 && peer_hung_up()) {
    close_fds(fds, nfds);
    shutdown_zygote(0);
  }

  struct hatch_header h;
  const char *why = NULL;
  int code = hatch_check_datagram(rx, (size_t)n, (msg.msg_flags & MSG_TRUNC) != 0,
                                  (msg.msg_flags & MSG_CTRUNC) != 0 || extra_fds, nfds, &h, &why);
  if (code == 0 && !handshake_done && h.type != HATCH_MSG_HELLO)
    code = HATCH_ERR_NOT_READY, why = "HELLO must come first";
  if (code != 0) {
    close_fds(fds, nfds);
    send_error(h.id, code, why);
    return;
  }
  switch (h.type) {
  case HATCH_MSG_HELLO:
    handle_hello(&h);
    break;
  case HATCH_MSG_SPAWN:
    handle_spawn(&h, fds, nfds);
    break;
  case HATCH_MSG_SIGNAL:
    handle_signal(&h);
    break;
  case HATCH_MSG_PING:
    handle_ping(&h);
    break;
  default:
    send_error(h.id, HATCH_ERR_UNKNOWN_TYPE, "unknown message type");
    break;
  }
}

/* ---- main loop -------------------------------------------------------- */

enum poll_kind { POLL_CONTROL, POLL_SIGNAL, POLL_ERR_PIPE, POLL_PIDFD, POLL_TIMER };

/* Per child: the error pipe; or the pidfd, a timer, and an init's error pipe. */
static struct pollfd poll_fds[2 + 3 * HATCH_MAX_CHILDREN];
static struct {
  enum poll_kind kind;
  struct child *child;
} poll_owner[2 + 3 * HATCH_MAX_CHILDREN];

static unsigned add_poll(unsigned n, int fd, enum poll_kind kind, struct child *c) {
  poll_fds[n] = (struct pollfd){.fd = fd, .events = POLLIN};
  poll_owner[n].kind = kind;
  poll_owner[n].child = c;
  return n + 1;
}

static unsigned build_poll_set(void) {
  unsigned n = 0;
  n = add_poll(n, CONTROL_FD, POLL_CONTROL, NULL);
  n = add_poll(n, signal_fd, POLL_SIGNAL, NULL);
  for (unsigned i = 0; i < HATCH_MAX_CHILDREN; i++) {
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
  else if (handshake_done && idle_timeout_ms > 0) deadline = idle_since_ns + ms_to_ns(idle_timeout_ms);
  else return -1;
  uint64_t now = hatch_now_ns();
  return now >= deadline ? 0 : (int)((deadline - now + 999999u) / 1000000u);
}

static void run_due_timers(void) {
  if (poll_timeout_ms() != 0) return;
  if (live_children > 0) (void)reap_orphans(0);
  else shutdown_zygote(0);
}

static void dispatch(unsigned i) {
  struct child *c = poll_owner[i].child;
  /* An earlier event in this round may have released the slot. */
  if (c != NULL && !c->used) return;
  switch (poll_owner[i].kind) {
  case POLL_CONTROL: on_control(); break;
  case POLL_SIGNAL: drain_signals(); break;
  case POLL_ERR_PIPE: if (c->err_fd == poll_fds[i].fd) on_error_pipe(c); break;
  case POLL_PIDFD: if (c->pidfd == poll_fds[i].fd) on_child_exit(c); break;
  case POLL_TIMER: if (c->timer_fd == poll_fds[i].fd && c->timer_armed) on_timer(c); break;
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
  signal(SIGPIPE, SIG_IGN);
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigaddset(&chld, SIGHUP);
  sigaddset(&chld, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &chld, NULL) != 0) hatch_die(1, "sigprocmask: %s", strerror(errno));
  signal_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) hatch_die(1, "signalfd: %s", strerror(errno));

  learn_pipefs();
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

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--probe") == 0) return hatch_probe_main(argc, argv);
  setup_process();
  for (;;) {
    unsigned n = build_poll_set();
    int timeout = poll_timeout_ms();
    int ready = poll(poll_fds, n, timeout);
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
    }
    run_due_timers();
  }
}
