#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>
#include "limits.h"
#include "raw_syscall.h"
#include "remove.h"
#include "kernel_compat.h"
#include "util.h"

/*
 * Reports go out through raw_syscall.h's hatch_sys, like every call an init
 * makes beside the zygote (below), so one writer serves every stage.
 */
static void write_report(int err_fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    long k = hatch_sys(SYS_write, err_fd, (long)p, (long)len, 0);
    if (k == -EINTR) continue;
    if (k <= 0) return;
    p += k;
    len -= (size_t)k;
  }
}

static void report(int err_fd, uint32_t kind, int32_t a, int32_t b) {
  struct hatch_child_report r = {.kind = kind, .a = a, .b = b};
  write_report(err_fd, &r, sizeof r);
}

static void report_value(int err_fd, uint32_t kind, uint32_t key, uint64_t value) {
  struct hatch_child_value_report r = {.kind = kind, .key = key, .value = value};
  write_report(err_fd, &r, sizeof r);
}

static _Noreturn void fail(int err_fd, uint32_t stage, int err) {
  report(err_fd, HATCH_REPORT_FAILURE, (int32_t)stage, err);
  _exit(127);
}

/*
 * HATCH_SPAWN_TRACE: when each stage ended, kept here (a pid-namespace init
 * shares this memory with the program until its exec, and every child the
 * zygote's until its release: cleared when a child starts) and written to
 * the error pipe as HATCH_REPORT_TRACE records just before the exec is known.
 */
static uint64_t trace_ns[HATCH_TRACE_EVENTS];

static void trace(const struct hatch_plan *plan, uint32_t event) {
  if ((plan->flags & HATCH_SPAWN_TRACE) && event < HATCH_TRACE_EVENTS) trace_ns[event] = hatch_now_ns();
}

/* trace_ns, or an init's copy of it. */
static void flush_trace(const uint64_t events[HATCH_TRACE_EVENTS], int err_fd) {
  for (uint32_t event = 0; event < HATCH_TRACE_EVENTS; event++)
    if (events[event] != 0) report_value(err_fd, HATCH_REPORT_TRACE, event, events[event]);
}

#define STAGE(stage, expr)                          \
  do {                                              \
    int rc_ = (expr);                               \
    if (rc_ < 0) fail(args->err_fd, (stage), -rc_); \
    trace(plan, HATCH_TRACE_STAGE_BASE + (stage));  \
  } while (0)

static const int zygote_ignored_signals[] = HATCH_ZYGOTE_IGNORED_SIGNALS;
#define ZYGOTE_IGNORED_COUNT (sizeof zygote_ignored_signals / sizeof zygote_ignored_signals[0])

void hatch_zygote_signal_dispositions(void) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig <= HATCH_LAST_SIGNAL; sig++)
    if (sig != SIGKILL && sig != SIGSTOP) (void)sigaction(sig, &dfl, NULL); /* glibc's own two: EINVAL */
  for (size_t i = 0; i < ZYGOTE_IGNORED_COUNT; i++) signal(zygote_ignored_signals[i], SIG_IGN);
}

/*
 * Dispositions before the mask, so a signal that was pending meets SIG_DFL,
 * not the zygote's SIG_IGN. The zygote keeps every other one at SIG_DFL, and
 * the handlers glibc may install for itself go at exec: only the zygote's
 * ignored signals would survive it.
 */
static int reset_signals(void) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (size_t i = 0; i < ZYGOTE_IGNORED_COUNT; i++)
    if (sigaction(zygote_ignored_signals[i], &dfl, NULL) != 0) return -errno;
  sigset_t none;
  sigemptyset(&none);
  return sigprocmask(SIG_SETMASK, &none, NULL) == 0 ? 0 : -errno;
}

static int new_session(void) { return setsid() < 0 ? -errno : 0; }

/* The zygote may have died between clone3 and prctl; the re-check closes that window.
 * In a new pid namespace the parent lives outside it, so getppid() reads 0. */
static int die_with_zygote(const struct hatch_plan *plan, pid_t zygote_pid) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -errno;
  int new_pid_ns = plan->has_namespaces && (plan->namespaces.clone_flags & CLONE_NEWPID);
  pid_t expected = new_pid_ns ? 0 : zygote_pid;
  return getppid() == expected ? 0 : -ESRCH;
}

/* Any credential change (the uid drop, or entering the user namespace's ids)
 * clears the parent-death signal, so it is armed again once they are final.
 * getppid() cannot tell from inside a new pid namespace whether the zygote is
 * still there, so ask the error pipe: its write end reports POLLERR once the
 * zygote's read end is gone. */
static int rearm_parent_death(int err_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return -errno;
  struct pollfd p = {.fd = err_fd, .events = 0};
  if (poll(&p, 1, 0) < 0) return -errno;
  return (p.revents & (POLLERR | POLLHUP)) ? -ESRCH : 0;
}

/* Copies above 2 first, so a received fd that already sits on 0..2 cannot be
 * overwritten before it is used. dup2 clears close-on-exec on the targets. */
static int install_stdio(const int stdio[3]) {
  int moved[3];
  for (int i = 0; i < 3; i++) {
    moved[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 3);
    if (moved[i] < 0) return -errno;
  }
  for (int i = 0; i < 3; i++)
    if (dup2(moved[i], i) < 0) return -errno;
  return 0;
}

static int close_range_raw(unsigned lo, unsigned hi) { return syscall(SYS_close_range, lo, hi, 0) == 0 ? 0 : -errno; }

/*
 * The zygote's word: 0, or the errno its write of our id maps failed with
 * (then reported at the userns stage). A child that shares the zygote's
 * memory waits for it before anything else, and the zygote sends it as its
 * last act before it waits for the release, so the two never run side by
 * side until the release (errno and libc's state are one for both).
 * Without a sync pipe (a child with memory of its own): 0.
 */
static int await_zygote(int sync_fd, int sync_peer_fd) {
  if (sync_fd < 0) return 0;
  if (sync_peer_fd >= 0) (void)hatch_sys(SYS_close, sync_peer_fd, 0, 0, 0);
  int32_t status;
  ssize_t n;
  do {
    n = read(sync_fd, &status, sizeof status);
  } while (n < 0 && errno == EINTR);
  int rc = n < 0 ? -errno : 0;
  /* EOF (or a torn word, which a pipe write this small cannot be): the zygote went away without a word. */
  if (rc == 0 && n != (ssize_t)sizeof status) rc = -EPIPE;
  if (rc == 0 && status != 0) rc = -(status > 0 ? status : EIO);
  hatch_close(sync_fd);
  return rc;
}

/* Everything from 3 up is closed except the error and sync pipes, which are
 * close-on-exec and so vanish at execve anyway. */
static int close_other_fds(int keep_a, int keep_b) {
  int keep[2] = {keep_a < keep_b ? keep_a : keep_b, keep_a < keep_b ? keep_b : keep_a};
  unsigned lo = 3;
  for (int i = 0; i < 2; i++) {
    if (keep[i] < 0 || (unsigned)keep[i] < lo) continue;
    if ((unsigned)keep[i] > lo) {
      int rc = close_range_raw(lo, (unsigned)keep[i] - 1);
      if (rc != 0) return rc;
    }
    lo = (unsigned)keep[i] + 1;
  }
  return close_range_raw(lo, ~0u);
}

static int change_dir(const struct hatch_plan *plan) {
  if (plan->cwd == NULL) return 0;
  return chdir(plan->cwd) == 0 ? 0 : -errno;
}

/* Raw system calls: after a bare clone3, glibc's setxid machinery must not run.
 * A non-root caller cannot drop supplementary groups and has none worth dropping.
 * In a user namespace the child already took its inside ids (ns.c); the
 * credentials then only name the outside uid the zygote mapped them to. */
static long give_up_capabilities(int keep_one);

/* An init set apart by its ids (plan.h) keeps the killer ids as real and saved ids; its program takes the rest (run_program).
 * Without credentials a child that is still uid 0 is an unprivileged root's (src/policy/privilege.ts): it stays uid 0,
 * so it gives up whatever capabilities that root kept instead (no_new_privs then keeps execve from granting any). */
static int drop_credentials(const struct hatch_plan *plan) {
  if (!plan->has_credentials) return geteuid() == 0 ? (int)give_up_capabilities(0) : 0;
  if (plan->has_namespaces && (plan->namespaces.clone_flags & CLONE_NEWUSER)) return 0;
  int apart = hatch_init_apart_by_ids(plan);
  uint32_t outer_uid = apart ? hatch_killer_id(plan->uid) : plan->uid;
  uint32_t outer_gid = apart ? hatch_killer_id(plan->gid) : plan->gid;
  if (syscall(SYS_setgroups, 0, NULL) != 0 && !(errno == EPERM && geteuid() != 0)) return -errno;
  if (syscall(SYS_setresgid, outer_gid, plan->gid, outer_gid) != 0) return -errno;
  if (syscall(SYS_setresuid, outer_uid, plan->uid, outer_uid) != 0) return -errno;
  return 0;
}

/* The program of an init set apart by its ids: every id the operation's (allowed: each is the effective one). */
static int take_operation_ids(const struct hatch_plan *plan) {
  if (!hatch_init_apart_by_ids(plan)) return 0;
  if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) != 0) return -errno;
  if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) != 0) return -errno;
  return 0;
}

static void set_umask(const struct hatch_plan *plan) {
  if (plan->flags & HATCH_SPAWN_PRIVATE_UMASK) umask(077);
}

static int set_no_new_privs(const struct hatch_plan *plan) {
  if (!(plan->flags & HATCH_SPAWN_NO_NEW_PRIVS)) return 0;
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : -errno;
}

#define HATCH_DEFAULT_PATH "/usr/local/bin:/usr/bin:/bin"
#define HATCH_PATH_BUFFER 4096

static const char *find_path_variable(const struct hatch_plan *plan) {
  for (size_t i = 0; i < plan->envc; i++) {
    const char *e = plan->envp[i];
    if (e[0] == 'P' && e[1] == 'A' && e[2] == 'T' && e[3] == 'H' && e[4] == '=') return e + 5;
  }
  return HATCH_DEFAULT_PATH;
}

/* execvpe's search, without its allocation: after the sandbox is applied, so
 * only what the sandbox can see is found. Returns the errno to report. */
static int exec_program(const struct hatch_plan *plan) {
  char *const *argv = (char *const *)plan->argv;
  char *const *envp = (char *const *)plan->envp;
  if (!(plan->flags & HATCH_SPAWN_SEARCH_PATH)) {
    execve(plan->file, argv, envp);
    return errno;
  }
  static char candidate[HATCH_PATH_BUFFER];
  size_t file_len = 0;
  while (plan->file[file_len] != '\0') file_len++;
  int saw_eacces = 0;
  const char *dir = find_path_variable(plan);
  for (;;) {
    const char *end = dir;
    while (*end != '\0' && *end != ':') end++;
    size_t dir_len = (size_t)(end - dir);
    if (dir_len > 0 && dir_len + 1 + file_len + 1 <= sizeof candidate) {
      for (size_t i = 0; i < dir_len; i++) candidate[i] = dir[i];
      candidate[dir_len] = '/';
      for (size_t i = 0; i <= file_len; i++) candidate[dir_len + 1 + i] = plan->file[i];
      execve(candidate, argv, envp);
      if (errno == EACCES) saw_eacces = 1;
      else if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP && errno != ENAMETOOLONG) return errno;
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  return saw_eacces ? EACCES : ENOENT;
}

/* ---- pid-namespace init ------------------------------------------------
 *
 * pid 1 of a pid namespace gets no signal whose action is the default, so
 * the program must not be pid 1: SIGTERM would not end it, nor a fault or
 * an rlimit signal. The child forks once; pid 2 execs the program and pid 1
 * stays behind as a minimal init that reaps, forwards signals and reports
 * the program's wait status. When it exits, the kernel kills the namespace.
 */

static int wants_init(const struct hatch_plan *plan) {
  return plan->has_namespaces && (plan->namespaces.clone_flags & CLONE_NEWPID) != 0;
}

/*
 * No handlers: every signal stays blocked in the init, and the kernel never
 * counts a blocked signal as ignored (sig_ignored()), not even for a
 * namespace init's SIG_DFL, so each one waits in the queue for
 * rt_sigtimedwait (init_loop). The program inherits SIG_DFL everywhere.
 */

/*
 * pid 2 shares the init's memory until its execve (CLONE_VM | CLONE_VFORK):
 * no page tables to copy, and the init resumes only once the exec is done,
 * so it learns the outcome from program_exec_error without a pipe.
 *
 * seccomp is pid 2's last stage, not the init's: a filter binds only the
 * task that installs it, and a policy that denies kill or wait4 must not
 * silently stop the init from forwarding signals and reaping. The init runs
 * no untrusted code, is not dumpable and is in the same Landlock domain.
 *
 * Without a user namespace, an init set apart by its ids (plan.h) hands its
 * program the operation's ids first: the init keeps the killer ids as its
 * real and saved ids, so the program may neither signal nor ptrace it.
 */
static char program_stack[64 * 1024] __attribute__((aligned(16)));
static const struct hatch_plan *program_plan;
static int program_err_fd;
static volatile int program_exec_error;

static int run_program(void *unused) {
  (void)unused;
  sigset_t none;
  sigemptyset(&none);
  uint32_t stage = HATCH_STAGE_CREDENTIALS;
  int rc = take_operation_ids(program_plan);
  if (rc == 0) {
    stage = HATCH_STAGE_SECCOMP;
    rc = sigprocmask(SIG_SETMASK, &none, NULL) == 0 ? hatch_child_apply_seccomp(program_plan) : -errno;
  }
  int err = -rc;
  if (rc == 0) {
    trace(program_plan, HATCH_TRACE_STAGE_BASE + HATCH_STAGE_SECCOMP);
    stage = HATCH_STAGE_EXEC, err = exec_program(program_plan);
  }
  report(program_err_fd, HATCH_REPORT_FAILURE, stage, err);
  program_exec_error = err == 0 ? EIO : err;
  _exit(127);
}

/*
 * ---- the init past its release --------------------------------------------
 *
 * Once the program runs, an init made with CLONE_VM (zygote_spawn.c) lets
 * the zygote go on, and from then on the two run side by side in one
 * memory. So everything below makes its calls through hatch_sys (no errno,
 * no libc state: raw_syscall.h) and reads only its own struct init_state,
 * copied onto its own stack: the plan, the args and child.c's statics are
 * the zygote's again. An init with a memory of its own (fork) runs the same code.
 */
struct init_state {
  int err_fd;
  pid_t program;
  int tracing;
  int has_private_tmp;
  char private_tmp_path[HATCH_PATH_BUFFER]; /* "" if the plan's did not fit: then never reported full */
};

/* The kernel's sigset is 64 bits on every architecture this builds for; glibc's sigset_t starts with it. */
#define KERNEL_SIGSET_BYTES 8

static _Noreturn void init_exit(int code) {
  for (;;) hatch_sys(SYS_exit_group, code, 0, 0, 0);
}

static int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* 1 when the private tmpfs has no free blocks or inodes left. */
static int private_tmp_full(const struct init_state *st) {
  if (!st->has_private_tmp || st->private_tmp_path[0] == '\0') return 0;
  struct statfs fs;
  if (hatch_sys(SYS_statfs, (long)st->private_tmp_path, (long)&fs, 0, 0) != 0) return 0;
  return fs.f_bavail == 0 || fs.f_ffree == 0;
}

/*
 * Once the program has ended: SIGKILL everything else in the namespace and
 * reap it, so the exit can be reported before the init's own exit tears the
 * namespaces down. Everything in it has the program's ids and no
 * capabilities, so kill(-1) reaches all of it; __WALL also finds children
 * made with another exit signal. Bounded: if something is still there after
 * the last round (stuck in the kernel), returns 0 and the init's exit,
 * which kills the namespace whatever the permissions, is waited for as before.
 */
#define END_TREE_ROUNDS 100
#define END_TREE_WAIT_NS 10000000L /* 10 ms a round: at most a second */

static int end_namespace_tree(void) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  for (int round = 0; round < END_TREE_ROUNDS; round++) {
    (void)hatch_sys(SYS_kill, -1, SIGKILL, 0, 0);
    for (;;) {
      long pid = hatch_sys(SYS_wait4, -1, 0, WNOHANG | __WALL, 0);
      if (pid == -ECHILD) return 1;
      if (pid <= 0) break;
    }
    struct timespec wait = {.tv_sec = 0, .tv_nsec = END_TREE_WAIT_NS};
    (void)hatch_sys(SYS_rt_sigtimedwait, (long)&chld, 0, (long)&wait, KERNEL_SIGSET_BYTES);
  }
  return 0;
}

/*
 * The init's last reports, written together: one write, so the zygote wakes
 * once for them. On the init's stack (it shares the zygote's memory).
 */
#define LAST_REPORTS 8
struct report_batch {
  struct hatch_child_report records[LAST_REPORTS];
  unsigned count;
};

static void batch_report(struct report_batch *b, uint32_t kind, int32_t a, int32_t b32) {
  if (b->count < LAST_REPORTS) b->records[b->count++] = (struct hatch_child_report){.kind = kind, .a = a, .b = b32};
}

static void batch_value(struct report_batch *b, uint32_t kind, uint32_t key, uint64_t value) {
  struct hatch_child_value_report v = {.kind = kind, .key = key, .value = value};
  _Static_assert(sizeof v == sizeof b->records[0], "a value report is one report's size");
  if (b->count < LAST_REPORTS) memcpy(&b->records[b->count++], &v, sizeof v);
}

static void batch_flush(int err_fd, struct report_batch *b) {
  if (b->count > 0) write_report(err_fd, b->records, b->count * sizeof b->records[0]);
  b->count = 0;
}

/* What every process of the namespace used, all of them reaped by now (the init's own few calls aside). */
static void batch_usage(struct report_batch *b) {
  struct rusage ru;
  if (hatch_sys(SYS_getrusage, RUSAGE_CHILDREN, (long)&ru, 0, 0) != 0) return;
  batch_value(b, HATCH_REPORT_USAGE, HATCH_USAGE_USER_US, hatch_timeval_us(ru.ru_utime));
  batch_value(b, HATCH_REPORT_USAGE, HATCH_USAGE_SYS_US, hatch_timeval_us(ru.ru_stime));
  batch_value(b, HATCH_REPORT_USAGE, HATCH_USAGE_MAX_RSS_BYTES, (uint64_t)ru.ru_maxrss * 1024u);
}

#ifdef HATCH_TEST_FLOODING_INIT
/*
 * Only in a zygote test/zygote.test.ts compiles: when its program ends, the
 * init writes 60 KiB of valid reports (240 reads of the zygote's; a default
 * pipe holds them all) ahead of its last ones, then waits for the zygote's
 * SIGKILL instead of exiting, so that the zygote meets a full pipe, not an
 * exit.
 */
#define FLOOD_BYTES (60u * 1024u)

static void flood_reports(int err_fd) {
  struct hatch_child_value_report block[256]; /* 4 KiB */
  for (unsigned i = 0; i < 256; i++)
    block[i] = (struct hatch_child_value_report){.kind = HATCH_REPORT_USAGE, .key = HATCH_USAGE_USER_US, .value = i};
  for (unsigned sent = 0; sent < FLOOD_BYTES; sent += sizeof block) write_report(err_fd, block, sizeof block);
}

static _Noreturn void linger(const sigset_t *all) {
  for (;;) {
    siginfo_t info;
    (void)hatch_sys(SYS_rt_sigtimedwait, (long)all, (long)&info, 0, KERNEL_SIGSET_BYTES);
  }
}
#endif

static _Noreturn void init_loop(const struct init_state *st, const sigset_t *all) {
  for (;;) {
    siginfo_t info;
    long sig = hatch_sys(SYS_rt_sigtimedwait, (long)all, (long)&info, 0, KERNEL_SIGSET_BYTES);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      int tree = info.si_code == SI_QUEUE && info.si_value.sival_int == HATCH_TREE_SIGNAL_COOKIE;
      (void)hatch_sys(SYS_kill, tree ? -1 : st->program, sig, 0, 0);
      continue;
    }
    /* Orphans of the namespace are reparented to us: reap everything, watch for the program. */
    int status, program_status = 0, program_done = 0;
    long pid;
    while ((pid = hatch_sys(SYS_wait4, -1, (long)&status, WNOHANG | __WALL, 0)) > 0) {
      if (pid == st->program) program_done = 1, program_status = status;
    }
    if (program_done) {
      uint64_t reaped_ns = hatch_now_ns();
#ifdef HATCH_TEST_FLOODING_INIT
      flood_reports(st->err_fd);
#endif
      /*
       * ECHILD: we have no child left, so nothing else is in the namespace
       * (every process of it descends from us, and orphans come to us), and
       * its end is known already: everything goes in one write, one wake-up
       * of the zygote. The usual case.
       */
      int namespace_empty = pid == -ECHILD;
      uint32_t bits = private_tmp_full(st) ? HATCH_REPORT_TMP_FULL : 0;
      struct report_batch last = {.count = 0};
      if (st->tracing) batch_value(&last, HATCH_REPORT_TRACE, HATCH_TRACE_PROGRAM_REAPED, reaped_ns);
      batch_report(&last, HATCH_REPORT_EXIT_STATUS, program_status, (int32_t)bits);
      /*
       * Otherwise the status goes at once, on its own: the zygote may SIGKILL
       * this init at any moment (a grace period ending, killTree, an output
       * cap), and the program's own status must not be lost to that. The rest
       * follows in one write once the namespace is empty.
       */
      if (!namespace_empty) batch_flush(st->err_fd, &last);
      if (namespace_empty || end_namespace_tree()) {
        batch_usage(&last);
        batch_report(&last, HATCH_REPORT_TREE_GONE, 0, 0);
      }
      batch_flush(st->err_fd, &last);
#ifdef HATCH_TEST_FLOODING_INIT
      linger(all);
#endif
      init_exit(exit_code_of(program_status));
    }
  }
}

/*
 * Past the release: clears the ambient set and the effective, permitted and
 * inheritable ones (always allowed: it only gives up). The bounding set
 * matters only for an execve, which the init never does (its filter kills
 * one), so it is left as it is: 40-odd calls saved on every spawn. An init
 * in the zygote's memory and in a user namespace of its own keeps one
 * capability, CAP_WAKE_ALARM, in its permitted set and never uses it: the
 * kernel's ptrace check refuses a task of the same user namespace whose
 * permitted set lacks one the target holds, and the program (which execs
 * with none) must never reach that memory, whatever the mm's dumpable flag
 * says (a credential change of a later child resets it, and the zygote sets
 * it back). An init in the zygote's memory without a user namespace holds
 * no capability to keep (a root zygote's child gives them all up with uid
 * 0): its ids set it apart instead (drop_credentials).
 */
#define KEPT_CAPABILITY 35 /* CAP_WAKE_ALARM */

static long give_up_capabilities(int keep_one) {
  (void)hatch_sys(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0);
  struct {
    uint32_t version;
    int pid;
  } header = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
  struct {
    uint32_t effective, permitted, inheritable;
  } data[2] = {{0, 0, 0}, {0, keep_one ? 1u << (KEPT_CAPABILITY - 32) : 0u, 0}};
  return hatch_sys(SYS_capset, (long)&header, (long)data, 0, 0);
}

/* The init's own filter, copied onto its stack before the release (the plan is the zygote's). */
#define INIT_FILTER_MAX 256

struct init_confinement {
  uint64_t filter[INIT_FILTER_MAX]; /* struct sock_filter, 8 bytes each */
  size_t filter_len;
  uint64_t trace[HATCH_TRACE_EVENTS];
};

static long init_confine(const struct init_confinement *conf, int keep_capability) {
  long rc = give_up_capabilities(keep_capability);
  /* Without capabilities a filter needs no_new_privs; the init never execs, so it costs nothing to set here. */
  if (rc == 0) rc = hatch_sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0);
  if (rc == 0 && conf->filter_len > 0) rc = hatch_install_filter(conf->filter, conf->filter_len);
  return rc;
}

/* The init past the program's exec: argv and env are the program's now, and plan->argv/envp dangle.
 * An init in the zygote's memory leaves them: the zygote unmaps them once it goes on. */
static void release_args(const struct hatch_child_args *args) {
  if (args->shares_zygote_memory) return;
  if (args->args_file != NULL) (void)munmap(args->args_file, args->args_file_len);
  if (args->args_slots != NULL) (void)munmap(args->args_slots, args->args_slots_len);
}

/* Everything from 0 up is closed except one fd. */
static void init_close_all_but(int keep) {
  if (keep > 0) (void)hatch_sys(SYS_close_range, 0, keep - 1, 0, 0);
  (void)hatch_sys(SYS_close_range, keep + 1, ~0u, 0, 0);
}

static void copy_init_state(struct init_state *st, const struct hatch_plan *plan, int err_fd, pid_t program) {
  st->err_fd = err_fd;
  st->program = program;
  st->tracing = (plan->flags & HATCH_SPAWN_TRACE) != 0;
  st->has_private_tmp = plan->has_private_tmp;
  st->private_tmp_path[0] = '\0';
  if (plan->has_private_tmp) {
    size_t n = 0;
    while (n < sizeof st->private_tmp_path && plan->private_tmp_path[n] != '\0') n++;
    if (n < sizeof st->private_tmp_path) {
      for (size_t i = 0; i <= n; i++) st->private_tmp_path[i] = plan->private_tmp_path[i];
    }
  }
}

/* A failure once the zygote may be running beside us: raw calls only. */
static _Noreturn void init_fail(const struct init_state *st, uint32_t stage, long err) {
  (void)hatch_sys(SYS_kill, st->program, SIGKILL, 0, 0);
  while (hatch_sys(SYS_wait4, st->program, 0, 0, 0) == -EINTR) {
  }
  report(st->err_fd, HATCH_REPORT_FAILURE, (int32_t)stage, (int32_t)err);
  init_exit(127);
}

/*
 * The init's part of the release (see zygote_spawn.c): it holds the release
 * pipe until the program has exec'd, and closes it right then. Everything it
 * reads afterwards was copied onto its stack before: the plan, the trace
 * array and the other statics of this file belong to the next spawn from
 * that moment on.
 */
static _Noreturn void run_as_init(const struct hatch_plan *plan, const struct hatch_child_args *args) {
  int err_fd = args->err_fd;
  int shared = args->shares_zygote_memory;
  int keep_capability = shared && !hatch_init_apart_by_ids(plan);
  /* The program's /proc/1 must not expose us (fds, memory, environment). In the zygote's memory
   * the flag is the zygote's: the kept capability does this instead (give_up_capabilities). */
  if (!shared && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(err_fd, HATCH_STAGE_INIT, errno);
  /* Blocked before the fork: a signal that comes before the handlers waits instead of being dropped. */
  sigset_t all;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) fail(err_fd, HATCH_STAGE_INIT, errno);
  struct init_confinement conf;
  conf.filter_len = plan->init_seccomp_filter != NULL ? plan->init_seccomp_insn_count : 0;
  if (conf.filter_len > INIT_FILTER_MAX) fail(err_fd, HATCH_STAGE_INIT, E2BIG);
  if (conf.filter_len > 0) memcpy(conf.filter, plan->init_seccomp_filter, conf.filter_len * 8);
  program_plan = plan;
  program_err_fd = err_fd;
  program_exec_error = 0;
  trace(plan, HATCH_TRACE_INIT_READY);
  pid_t pid = clone(run_program, program_stack + sizeof program_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, NULL);
  if (pid < 0) fail(err_fd, HATCH_STAGE_INIT, errno);
  if (program_exec_error != 0) { /* it has reported why */
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    _exit(127);
  }
  trace(plan, HATCH_TRACE_STAGE_BASE + HATCH_STAGE_EXEC);
  memcpy(conf.trace, trace_ns, sizeof conf.trace);
  struct init_state st;
  copy_init_state(&st, plan, err_fd, pid);
  release_args(args);
  /* The zygote goes on from here (the program's copy closed at its exec); past this line only hatch_sys. */
  if (args->release_fd >= 0) (void)hatch_sys(SYS_close, args->release_fd, 0, 0, 0);
  /* Only the program may hold its stdio, or its readers would wait on us for EOF. */
  init_close_all_but(err_fd);
  /*
   * Pid 1 keeps no usable capability of its user namespace, and a filter of
   * its own bounds what it may ask of the kernel: both before EXEC_OK, so
   * that once the caller hears SPAWNED the init is confined. If either
   * fails, the program dies unseen and the spawn fails at the init stage.
   */
  long rc = init_confine(&conf, keep_capability);
  if (rc != 0) init_fail(&st, HATCH_STAGE_INIT, -rc);
  if (st.tracing) flush_trace(conf.trace, err_fd);
  report(st.err_fd, HATCH_REPORT_EXEC_OK, 0, 0);
#ifdef HATCH_TEST_LYING_INIT
  /* Only in a zygote test/zygote.test.ts compiles: an init the program took over, saying the tree is gone. */
  struct report_batch lie = {.count = 0};
  batch_report(&lie, HATCH_REPORT_EXIT_STATUS, 0, 0);
  batch_value(&lie, HATCH_REPORT_USAGE, HATCH_USAGE_USER_US, 1);
  batch_report(&lie, HATCH_REPORT_TREE_GONE, 0, 0);
  batch_flush(st.err_fd, &lie);
#endif
  init_loop(&st, &all);
}

void hatch_child_run(const struct hatch_child_args *args) {
  const struct hatch_plan *plan = args->plan;
  int awaited = await_zygote(args->sync_fd, args->sync_peer_fd);
  memset(trace_ns, 0, sizeof trace_ns);
  trace(plan, HATCH_TRACE_STAGE_BASE + HATCH_STAGE_CLONE);
  STAGE(HATCH_STAGE_SIGNALS, reset_signals());
  STAGE(HATCH_STAGE_SETSID, new_session());
  STAGE(HATCH_STAGE_PDEATHSIG, die_with_zygote(plan, args->zygote_pid));
  STAGE(HATCH_STAGE_STDIO, install_stdio(args->stdio));
  STAGE(HATCH_STAGE_CLOSE_FDS, close_other_fds(args->err_fd, args->release_fd));
  /* The zygote's errno from writing our id maps, so the user sees why (EPERM, EINVAL...), at the userns stage. */
  STAGE(HATCH_STAGE_USERNS, awaited < 0 ? awaited : hatch_child_enter_userns(plan));
  STAGE(HATCH_STAGE_MOUNT, hatch_child_setup_mounts(plan));
  STAGE(HATCH_STAGE_CWD, change_dir(plan));
  STAGE(HATCH_STAGE_RLIMITS, hatch_apply_rlimits(plan));
  STAGE(HATCH_STAGE_CREDENTIALS, drop_credentials(plan));
  int rearmed = rearm_parent_death(args->err_fd);
  if (rearmed < 0) fail(args->err_fd, HATCH_STAGE_PDEATHSIG, -rearmed);
  trace(plan, HATCH_TRACE_REARMED);
  STAGE(HATCH_STAGE_NO_NEW_PRIVS, set_no_new_privs(plan));
  STAGE(HATCH_STAGE_LANDLOCK, hatch_child_apply_landlock(plan));
  set_umask(plan);
  if (plan->flags & HATCH_SPAWN_REMOVE_TREE) {
    int rc = hatch_empty_tree(plan->file);
    if (rc < 0) fail(args->err_fd, HATCH_STAGE_EXEC, -rc);
    _exit(0);
  }
  if (wants_init(plan)) run_as_init(plan, args);
  STAGE(HATCH_STAGE_SECCOMP, hatch_child_apply_seccomp(plan));
  if (plan->flags & HATCH_SPAWN_TRACE) flush_trace(trace_ns, args->err_fd);
  fail(args->err_fd, HATCH_STAGE_EXEC, exec_program(plan));
}
