#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "limits.h"
#include "util.h"

#define HATCH_LAST_SIGNAL 64

static _Noreturn void fail(int err_fd, uint32_t stage, int err) {
  struct hatch_failure failure = {.stage = stage, .err = err};
  (void)hatch_write_all(err_fd, &failure, sizeof failure);
  _exit(127);
}

#define STAGE(stage, expr)                          \
  do {                                              \
    int rc_ = (expr);                               \
    if (rc_ < 0) fail(args->err_fd, (stage), -rc_); \
  } while (0)

/* Dispositions before the mask, so a signal that was pending meets SIG_DFL, not the zygote's
 * SIG_IGN. glibc refuses its two internal signals with EINVAL; they are not ours to reset. */
static int reset_signals(void) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig <= HATCH_LAST_SIGNAL; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    if (sigaction(sig, &dfl, NULL) != 0 && errno != EINVAL) return -errno;
  }
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

static int close_range_raw(unsigned lo, unsigned hi) {
  return syscall(SYS_close_range, lo, hi, 0) == 0 ? 0 : -errno;
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
 * A non-root caller cannot drop supplementary groups and has none worth dropping. */
static int drop_credentials(const struct hatch_plan *plan) {
  if (!plan->has_credentials) return 0;
  if (syscall(SYS_setgroups, 0, NULL) != 0 && !(errno == EPERM && geteuid() != 0)) return -errno;
  if (syscall(SYS_setresgid, plan->gid, plan->gid, plan->gid) != 0) return -errno;
  if (syscall(SYS_setresuid, plan->uid, plan->uid, plan->uid) != 0) return -errno;
  return 0;
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

void hatch_child_run(const struct hatch_child_args *args) {
  const struct hatch_plan *plan = args->plan;
  STAGE(HATCH_STAGE_SIGNALS, reset_signals());
  STAGE(HATCH_STAGE_SETSID, new_session());
  STAGE(HATCH_STAGE_PDEATHSIG, die_with_zygote(plan, args->zygote_pid));
  STAGE(HATCH_STAGE_STDIO, install_stdio(args->stdio));
  STAGE(HATCH_STAGE_CLOSE_FDS, close_other_fds(args->err_fd, args->sync_fd));
  STAGE(HATCH_STAGE_USERNS, hatch_child_enter_userns(plan, args->sync_fd));
  STAGE(HATCH_STAGE_MOUNT, hatch_child_setup_mounts(plan));
  STAGE(HATCH_STAGE_CWD, change_dir(plan));
  STAGE(HATCH_STAGE_RLIMITS, hatch_apply_rlimits(plan));
  STAGE(HATCH_STAGE_CREDENTIALS, drop_credentials(plan));
  STAGE(HATCH_STAGE_NO_NEW_PRIVS, set_no_new_privs(plan));
  STAGE(HATCH_STAGE_LANDLOCK, hatch_child_apply_landlock(plan));
  STAGE(HATCH_STAGE_SECCOMP, hatch_child_apply_seccomp(plan));
  fail(args->err_fd, HATCH_STAGE_EXEC, exec_program(plan));
}
