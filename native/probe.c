/*
 * `hatchery-zygote --probe [UID]`: try, once, every kernel feature the
 * TypeScript planner relies on, and report what actually worked. Detecting by
 * trying is the only honest way: a container's seccomp profile, AppArmor or a
 * sysctl can refuse what the kernel version promises (docs/kernel.md).
 *
 * Each attempt runs in a child of its own, so a half-made namespace or an
 * installed filter never touches this process. The answer is one datagram on
 * the control socket (fd 3): lines "name=value", where value is 0 for "works"
 * and an errno otherwise (landlock_abi is the ABI number, or -errno).
 *
 * UID (root only): a uid of the per-operation range, to learn whether this
 * process may take it (a container's user namespace may not map it).
 *
 * "privileged" (root only) tells whether root holds the capabilities of the
 * root path (privilege.h), and "nobody_ids" (root with them) whether it may
 * take uid and gid 65534, which every operation of the root path without a
 * uid of its own runs as: root in a user namespace that maps only itself
 * (`unshare -r`, systemd's PrivateUsers=) holds the capabilities there but
 * has no other uid to give. Without both it is probed as any other uid is:
 * namespaces with a user namespace, its own id mapped to an inside uid.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "privilege.h"
#include "protocol.h"
#include "util.h"

#define CONTROL_FD HATCH_CONTROL_FD
#define REPORT_MAX 2048
#define NOBODY 65534u
#include "mount_api.h"

static char report[REPORT_MAX];
static size_t report_len;
static int use_clone3 = 1;

static void put(const char *name, long value) {
  char digits[24];
  int negative = value < 0;
  hatch_utoa((uint64_t)(negative ? -value : value), digits);
  size_t need = strlen(name) + 1 + (size_t)negative + strlen(digits) + 1;
  if (report_len + need >= sizeof report) return;
  report_len +=
      (size_t)snprintf(report + report_len, sizeof report - report_len, "%s=%s%s\n", name, negative ? "-" : "", digits);
}

/* fork-like: the child returns 0 on the same stack (no CLONE_VM). */
static long clone_with(uint64_t flags, int *pidfd) {
  if (use_clone3) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = flags | (pidfd ? CLONE_PIDFD : 0);
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    return syscall(SYS_clone3, &args, sizeof args);
  }
  return syscall(SYS_clone, (unsigned long)flags | (pidfd ? CLONE_PIDFD : 0) | SIGCHLD, 0, pidfd, NULL, 0);
}

/* 0 when the child exited 0; its exit code (an errno) otherwise; 255 for a signal. */
static int wait_child(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return errno;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

static int probe_clone3(void) {
  struct clone_args args;
  memset(&args, 0, sizeof args);
  int pidfd = -1;
  args.flags = CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &args, sizeof args);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  hatch_close(pidfd);
  return wait_child((pid_t)pid);
}

static int probe_clone_pidfd(void) {
  int pidfd = -1;
  long pid = syscall(SYS_clone, (unsigned long)CLONE_PIDFD | SIGCHLD, 0, &pidfd, NULL, 0);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  hatch_close(pidfd);
  return wait_child((pid_t)pid);
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  size_t n = strlen(text);
  int rc = write(fd, text, n) == (ssize_t)n ? 0 : (errno ? errno : EIO);
  close(fd);
  return rc;
}

/* Root that can run operations as other uids (see the top of this file); set before the probes that depend on it. */
static int root_path;

/* As the zygote does it: the parent writes the maps, the child takes the inside ids. */
static int probe_userns_with_maps(uint32_t outside_uid_for_root) {
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) return errno;
  int root = root_path;
  /* Inside uid 0 would keep its capabilities over execve: an unprivileged root is nobody inside, as the planner maps it. */
  uint32_t inside_uid = root || geteuid() == 0 ? NOBODY : geteuid();
  uint32_t inside_gid = root || geteuid() == 0 ? NOBODY : getegid();
  uint32_t outside_uid = root ? outside_uid_for_root : geteuid();
  uint32_t outside_gid = root ? outside_uid_for_root : getegid();
  long pid = clone_with(CLONE_NEWUSER, NULL);
  if (pid < 0) {
    int err = errno;
    close(sync[0]);
    close(sync[1]);
    return err;
  }
  if (pid == 0) {
    char byte;
    close(sync[1]);
    if (read(sync[0], &byte, 1) != 1) _exit(EPIPE);
    if (syscall(SYS_setresgid, inside_gid, inside_gid, inside_gid) != 0) _exit(errno);
    if (syscall(SYS_setresuid, inside_uid, inside_uid, inside_uid) != 0) _exit(errno);
    _exit(0);
  }
  close(sync[0]);
  char path[64], line[64];
  int rc = 0;
  if (!root) {
    snprintf(path, sizeof path, "/proc/%ld/setgroups", pid);
    rc = write_file(path, "deny");
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "/proc/%ld/uid_map", pid);
    snprintf(line, sizeof line, "%u %u 1\n", inside_uid, outside_uid);
    rc = write_file(path, line);
  }
  if (rc == 0) {
    snprintf(path, sizeof path, "/proc/%ld/gid_map", pid);
    snprintf(line, sizeof line, "%u %u 1\n", inside_gid, outside_gid);
    rc = write_file(path, line);
  }
  if (rc == 0) (void)hatch_write_all(sync[1], "1", 1);
  close(sync[1]);
  int child = wait_child((pid_t)pid);
  return rc != 0 ? rc : child;
}

/* Creating the namespace is the test; an unprivileged caller needs a user namespace for any other. */
static int probe_namespace(uint64_t flag) {
  uint64_t flags = flag | (root_path || flag == CLONE_NEWUSER ? 0 : CLONE_NEWUSER);
  long pid = clone_with(flags, NULL);
  if (pid < 0) return errno;
  if (pid == 0) _exit(0);
  return wait_child((pid_t)pid);
}

/* What the mount stage needs: a private tree, a tmpfs, open_tree and mount_setattr (5.12). */
static int probe_mounts(void) {
  uint64_t flags = CLONE_NEWNS | (root_path ? 0 : CLONE_NEWUSER);
  long pid = clone_with(flags, NULL);
  if (pid < 0) return errno;
  if (pid == 0) {
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) _exit(errno);
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=4k,nr_inodes=16") != 0) _exit(errno);
    int tree = (int)syscall(SYS_open_tree, AT_FDCWD, "/tmp", OPEN_TREE_CLONE | O_CLOEXEC);
    if (tree < 0) _exit(errno);
    struct hatch_mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if (syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, &attr, sizeof attr) != 0) _exit(errno);
    _exit(0);
  }
  return wait_child((pid_t)pid);
}

static int probe_seccomp(void) {
  long pid = clone_with(0, NULL);
  if (pid < 0) return errno;
  if (pid == 0) {
    struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {.len = 1, .filter = &allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(errno);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(errno);
    _exit(0);
  }
  return wait_child((pid_t)pid);
}

/* Root only: may this process become a uid of the per-operation range? */
static int probe_setuid(uint32_t uid) {
  long pid = clone_with(0, NULL);
  if (pid < 0) return errno;
  if (pid == 0) {
    if (syscall(SYS_setgroups, 0, NULL) != 0) _exit(errno);
    if (syscall(SYS_setresgid, uid, uid, uid) != 0) _exit(errno);
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) _exit(errno);
    _exit(0);
  }
  return wait_child((pid_t)pid);
}

int hatch_probe_main(int argc, char **argv) {
  uint32_t op_uid = NOBODY;
  uint32_t v;
  if (argc > 2 && hatch_parse_u32(argv[2], &v) == 0 && v > 0 && v < 0xffffffffu) op_uid = v;
  int clone3 = probe_clone3();
  put("clone3", clone3);
  put("clone_pidfd", probe_clone_pidfd());
  if (clone3 != 0) use_clone3 = 0;
  int nobody_ids = hatch_privileged() ? probe_setuid(NOBODY) : EPERM;
  root_path = nobody_ids == 0;
  int setuid_range = root_path ? probe_setuid(op_uid) : EPERM;
  put("userns", probe_namespace(CLONE_NEWUSER));
  /* Mapped to the uid the planner will give: one of the range if root may take it, else the shared 65534. */
  put("userns_maps", probe_userns_with_maps(setuid_range == 0 ? op_uid : NOBODY));
  put("pidns", probe_namespace(CLONE_NEWPID));
  put("netns", probe_namespace(CLONE_NEWNET));
  put("ipcns", probe_namespace(CLONE_NEWIPC));
  put("utsns", probe_namespace(CLONE_NEWUTS));
  put("mountns", probe_namespace(CLONE_NEWNS));
  put("mounts", probe_mounts());
  put("seccomp", probe_seccomp());
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  put("landlock_abi", abi < 0 ? -(long)errno : abi);
  if (geteuid() == 0) put("privileged", hatch_privileged() ? 0 : EPERM);
  if (hatch_privileged()) put("nobody_ids", nobody_ids);
  if (root_path) put("setuid_range", setuid_range);
  ssize_t sent = send(CONTROL_FD, report, report_len, MSG_NOSIGNAL);
  return sent == (ssize_t)report_len ? 0 : 1;
}
