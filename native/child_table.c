/*
 * The zygote's children: one slot per running spawn, from clone to EXIT.
 * Reads each child's reports, runs its timeout and kill escalation, and
 * turns its exit into EXIT (see zygote.h for the other parts).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
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
#include "raw_syscall.h"
#include "util.h"
#include "wire.h"
#include "zygote.h"

struct child children[HATCH_CHILD_SLOTS];
unsigned live_children;
unsigned running_children;

/* ---- child table ------------------------------------------------------ */

void trace(struct child *c, uint32_t event) {
  if (c->tracing && event < HATCH_TRACE_EVENTS) c->trace_ns[event] = hatch_now_ns();
}

/* Before the spawn's last reply (SPAWN_FAILED or EXIT), which ends its id. */
static void send_trace(const struct child *c) {
  if (c->tracing) send_datagram(tx, hatch_encode_trace(tx, c->id, c->trace_ns), -1);
}

/* A running spawn by id; one whose EXIT was sent is no longer one, though its init may still be exiting. */
struct child *find_child(uint32_t id) {
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++)
    if (children[i].used && !children[i].reported && children[i].id == id) return &children[i];
  return NULL;
}

int is_tracked_pid(pid_t pid) {
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++)
    if (children[i].used && children[i].pid == pid) return 1;
  return 0;
}

/* A slot for one more running spawn, or NULL past the HATCH_MAX_CHILDREN that HELLO_OK advertised. */
struct child *free_slot(void) {
  if (running_children >= HATCH_MAX_CHILDREN) return NULL;
  for (unsigned i = 0; i < HATCH_CHILD_SLOTS; i++)
    if (!children[i].used) return &children[i];
  return NULL;
}

/* Only once the child is reaped: with it, every process of its pid namespace is gone. */
void release_child(struct child *c) {
  ns_stock_take_back(&c->stocked_net);
  hatch_closep(&c->tmp_fd);
  hatch_closep(&c->pidfd);
  hatch_closep(&c->err_fd);
  hatch_closep(&c->timer_fd);
  if (!c->reported) running_children--;
  c->used = 0;
  live_children--;
  if (live_children == 0) idle_since_ns = hatch_now_ns();
}

int pidfd_signal(int pidfd, int signo) { return (int)syscall(SYS_pidfd_send_signal, pidfd, signo, NULL, 0); }

/*
 * The child leads its own session and group; the pidfd also reaches it if it
 * left the group. In a pid namespace the init forwards a signal carrying the
 * cookie to every process in it; SIGKILL needs no help: the init's death
 * takes the namespace with it.
 */
void signal_tree(const struct child *c, int signo) {
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
void start_escalation(struct child *c, int signo, uint32_t reason) {
  c->reasons |= reason;
  if (c->kill_state != KILL_NONE) return;
  signal_tree(c, signo);
  c->kill_state = KILL_GRACE;
  if (c->grace_ms == 0 || arm_timer(c, c->grace_ms) != 0) kill_now(c);
}

/* ---- child lifecycle -------------------------------------------------- */

/* Reads per wake-up at most: an init that floods its pipe must not hold the loop (other children's timeouts). */
#define READS_PER_WAKE 64
/*
 * Reads once every writer is gone: the pipe can only hold what is in it, at
 * most its capacity (a default pipe's 64 KiB is 256 reads; the bound covers
 * one enlarged to the usual 1 MiB ceiling), and the last reports are behind
 * whatever came before them.
 */
#define READS_TO_EOF 4096u
static void read_reports(struct child *c, unsigned max_reads);

/*
 * Without a pid namespace, a tree whose uid is its operation's own dies by
 * that uid: a helper takes the uid and kill(-1)s, so no session, group or
 * double fork escapes. One pass reaches them all: the kernel signals every
 * process under the task list's lock, which a fork needs to complete, and a
 * fork in progress in a process that now has SIGKILL pending fails. A second
 * pass costs a few microseconds and is kept as a margin. (kill(-1) cannot say
 * when nothing is left: it returns 0 whenever some process other than the
 * caller exists, even if it could signal none of them. A loop waiting for
 * ESRCH ran all its 64 rounds every time, ~0.4 ms on the exit path.)
 *
 * The helper runs in the zygote's memory (CLONE_VM | CLONE_VFORK: no copy
 * of the address space, which cost ~2.5 ms a spawn as a fork here; the
 * zygote waits meanwhile) on a stack of its own, with its own copy of the
 * fd table, and makes raw system calls only (raw_syscall.h: no errno, no
 * libc state of the zygote's). Before it changes its ids it closes every fd.
 * Then it takes the operation's uid as its effective uid only: its real and
 * saved uid are the operation uid's own killer uid (HATCH_KILLER_UID_BASE
 * up, native/protocol.json), which no other process ever has, and it keeps
 * no capability. The kernel lets a process signal another when its real or
 * effective uid is the other's real or saved uid, so the helper may kill
 * every process of the operation uid (and of its killer uid: none but
 * itself, which kill(-1) skips), while none of them may signal it: a SIGSTOP
 * or SIGKILL from the operation in the moment before the first kill(-1) can
 * neither stall the zygote's wait nor cut the kill short. Nor can they
 * ptrace it or open its /proc/<pid>/mem or fds: that needs the caller's uid
 * to be the target's real, effective and saved uid all three, whatever the
 * memory's dumpable flag says. (wire.c refuses KILL_UID for a uid outside
 * the operation range, so the killer uid is never a real user's.) The
 * zygote has no signal handler a signal could run in the shared memory.
 */
#define KILL_UID_PASSES 2
#define KILL_UID_CLOSE_MAX 65536u

static char kill_uid_stack[16 * 1024] __attribute__((aligned(16)));

static _Noreturn void kill_uid_exit(int code) {
  for (;;) (void)hatch_sys(SYS_exit, code, 0, 0, 0);
}

static int kill_uid_helper(void *arg) {
  uint32_t uid = *(const uint32_t *)arg;
  if (hatch_sys(SYS_close_range, 0, ~0u, 0, 0) != 0) {
    struct rlimit nofile;
    unsigned top =
        hatch_sys(SYS_prlimit64, 0, RLIMIT_NOFILE, 0, (long)&nofile) == 0 && nofile.rlim_cur < KILL_UID_CLOSE_MAX
            ? (unsigned)nofile.rlim_cur
            : KILL_UID_CLOSE_MAX;
    for (unsigned fd = 0; fd < top; fd++) (void)hatch_sys(SYS_close, fd, 0, 0, 0);
  }
  long killer = (long)hatch_killer_id(uid);
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {{0, 0, 0}};
  if (hatch_sys(SYS_setresgid, killer, killer, killer, 0) != 0 ||
      hatch_sys(SYS_setresuid, killer, uid, killer, 0) != 0 ||
      hatch_sys(SYS_capset, (long)&header, (long)none, 0, 0) != 0)
    kill_uid_exit(1);
  for (int pass = 0; pass < KILL_UID_PASSES; pass++) (void)hatch_sys(SYS_kill, -1, SIGKILL, 0, 0);
  kill_uid_exit(0);
}

void hatch_kill_uid(uint32_t uid) {
  pid_t pid = clone(kill_uid_helper, kill_uid_stack + sizeof kill_uid_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &uid);
  if (pid < 0) {
    hatch_log("clone for killing uid %u failed: %s", uid, strerror(errno));
    return;
  }
  while (wait4(pid, NULL, 0, NULL) < 0 && errno == EINTR) {
  }
  hatch_keep_dumpable(); /* the helper's id change reset the shared memory's flag */
}

/*
 * `hatchery-zygote --kill-uid UID`: the same, from a process of its own. Node
 * runs it for an operation whose zygote died before its tree was ended by
 * uid (src/spawn/kill-operation-uid.ts). Only a root process, only an
 * operation uid; exit 0 once done.
 */
int hatch_kill_uid_main(int argc, char **argv) {
  uint32_t uid;
  if (argc != 3 || geteuid() != 0 || hatch_parse_u32(argv[2], &uid) != 0 || !hatch_is_operation_id(uid)) return 2;
  hatch_kill_uid(uid);
  return 0;
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
  running_children--;
  c->timer_armed = 0;
  hatch_closep(&c->timer_fd);
  /*
   * An honest init exits now anyway; one the program took over could have
   * said "tree gone" with the tree still running, past its timeout and out
   * of reach of SIGNAL (the spawn is no longer running). Its death takes the
   * whole pid namespace with it, so what EXIT said is made true.
   */
  (void)pidfd_signal(c->pidfd, SIGKILL);
}

void on_child_exit(struct child *c) {
  if (!c->reported) trace(c, HATCH_TRACE_EXIT_SEEN);
  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  /* Kill the group before reaping: while the leader is an unreaped zombie its pid cannot be reused. */
  (void)kill(-c->pid, SIGKILL);
  if (c->has_kill_uid) hatch_kill_uid(c->kill_uid);
  pid_t r;
  do r = wait4(c->pid, &status, 0, &ru);
  while (r < 0 && errno == EINTR);
  /* The init wrote its last reports before it exited; every writer is gone now, so read to the end. */
  if (c->err_fd >= 0) read_reports(c, READS_TO_EOF);
  if (!c->used) return;
  if (c->reported) { /* EXIT went with the init's early report (before, or just now): only the reaping was left */
    release_child(c);
    (void)reap_orphans(0);
    return;
  }
  trace(c, HATCH_TRACE_REAPED);
  if (c->has_program_status) status = c->program_status, r = c->pid;
  struct hatch_exit_body exit = exit_body(c, r > 0 ? status : -1, hatch_timeval_us(ru.ru_utime),
                                          hatch_timeval_us(ru.ru_stime), (uint64_t)ru.ru_maxrss * 1024u);
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

/* End of file on the report pipe. */
static void reports_ended(struct child *c) {
  hatch_closep(&c->err_fd);
  if (c->spawned) return;
  /* Without an init, EOF is the successful execve; an init always says so first. */
  if (c->setup_killed) spawn_failed(c, HATCH_STAGE_CLONE, ETIMEDOUT, 1);
  else if (!c->has_init) spawn_succeeded(c);
  else spawn_failed(c, HATCH_STAGE_INIT, EIO, 1);
}

/*
 * One struct hatch_child_report (see plan.h); `whole` is 0 for the short
 * tail of a read. Returns 0 while the child slot is still in use and more
 * may follow, 1 when done with the pipe (the slot was released, or the
 * pipe closed on a report that makes no sense).
 */
static int handle_report(struct child *c, const struct hatch_child_report *report, int whole) {
  struct hatch_child_report r = *report;
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
    return 0;
  }
  if (whole && c->has_program_status && r.kind == HATCH_REPORT_TREE_GONE) {
    if (c->has_usage && !c->reported) report_exit_early(c);
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

/*
 * Every report written so far, REPORTS_PER_READ to a read: the writers write
 * whole reports of 16 bytes, at most a pipe buffer's worth at once, so a read
 * never ends inside one but for a writer that is broken (its short tail is
 * then refused like any report that makes no sense).
 */
#define REPORTS_PER_READ 16

static void read_reports(struct child *c, unsigned max_reads) {
  struct hatch_child_report batch[REPORTS_PER_READ] = {{0}};
  for (unsigned reads = 0; reads < max_reads && c->used && c->err_fd >= 0; reads++) {
    ssize_t k;
    do k = read(c->err_fd, batch, sizeof batch);
    while (k < 0 && errno == EINTR);
    if (k < 0 && errno == EAGAIN) return; /* nothing more for now */
    if (k < 0) {                          /* a pipe that fails is a report that makes no sense */
      (void)handle_report(c, &batch[0], 0);
      return;
    }
    if (k == 0) {
      reports_ended(c);
      return;
    }
    size_t records = ((size_t)k + sizeof batch[0] - 1) / sizeof batch[0];
    for (size_t i = 0; i < records; i++) {
      int whole = (i + 1) * sizeof batch[0] <= (size_t)k;
      if (handle_report(c, &batch[i], whole) != 0) return;
      if (!c->used || c->err_fd < 0) return;
    }
    if ((size_t)k < sizeof batch) return; /* drained: a full buffer may have more behind it */
  }
}

void on_error_pipe(struct child *c) { read_reports(c, READS_PER_WAKE); }

void on_timer(struct child *c) {
  uint64_t ticks;
  (void)read(c->timer_fd, &ticks, sizeof ticks);
  c->timer_armed = 0;
  if (c->kill_state == KILL_NONE) start_escalation(c, (int)c->term_signal, HATCH_EXIT_TIMED_OUT);
  else if (c->kill_state == KILL_GRACE) kill_now(c);
}
