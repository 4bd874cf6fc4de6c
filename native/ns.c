/*
 * Namespaces. The namespaces themselves come from clone3 flags chosen in
 * TypeScript (plan->namespaces.clone_flags); this file does what clone3
 * cannot: the user namespace id maps (zygote side) and, in the child, waiting
 * for those maps, taking the planned ids, and the mount / network setup.
 *
 * Id maps (see /work/notes/h5-findings.md):
 *   zygote euid != 0: "<inside_uid> <zygote_euid> 1", setgroups "deny" first
 *                     (the only map an unprivileged writer may write).
 *   zygote euid == 0: "<inside_uid> <inside_uid> 1", setgroups left "allow":
 *                     the child is the planned uid (65534) outside as well,
 *                     and clears the zygote's supplementary groups itself.
 * Inside ids other than the caller's own exist only through these maps, so
 * the child never holds an unmapped uid once it has entered.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plan.h"

/* "/proc/" + 10 digits + "/setgroups" + NUL, with room to spare. */
#define PROC_PATH_MAX 48
/* "<u32> <u32> 1\n" */
#define ID_MAP_MAX 32
/* A private /tmp is scratch space, not storage; RLIMIT_FSIZE bounds single files. */
#define TMPFS_TMP_OPTIONS "size=64m,nr_inodes=16k,mode=1777"

/* Appends the decimal form of v at out; returns the number of bytes written. */
static size_t format_u32(char *out, uint32_t v) {
  char digits[10];
  size_t n = 0;
  do {
    digits[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  return n;
}

static size_t append(char *out, size_t at, const char *s) {
  size_t n = strlen(s);
  memcpy(out + at, s, n);
  return at + n;
}

static void proc_pid_path(char out[PROC_PATH_MAX], int pid, const char *leaf) {
  size_t at = append(out, 0, "/proc/");
  at += format_u32(out + at, (uint32_t)pid);
  at = append(out, at, "/");
  at = append(out, at, leaf);
  out[at] = '\0';
}

/* proc id-map files accept exactly one write(2) each; a short write is a failure. */
static int write_proc_file(int pid, const char *leaf, const char *data, size_t len) {
  char path[PROC_PATH_MAX];
  proc_pid_path(path, pid, leaf);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n;
  do {
    n = write(fd, data, len);
  } while (n < 0 && errno == EINTR);
  int rc = n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
  close(fd);
  return rc;
}

static int write_id_map(int pid, const char *leaf, uint32_t inside, uint32_t outside) {
  char line[ID_MAP_MAX];
  size_t at = format_u32(line, inside);
  line[at++] = ' ';
  at += format_u32(line + at, outside);
  at = append(line, at, " 1\n");
  return write_proc_file(pid, leaf, line, at);
}

static int wants(const struct hatch_plan *plan, uint64_t clone_flag) {
  return plan->has_namespaces && (plan->namespaces.clone_flags & clone_flag) != 0;
}

/*
 * zygote_euid/zygote_egid: the zygote's own geteuid()/getegid() (the
 * parameters plan.h calls outside_uid/outside_gid). The outside ids mapped
 * are decided here from them, as described at the top of this file.
 */
int hatch_parent_write_id_maps(const struct hatch_plan *plan, int pid, uint32_t zygote_euid,
                               uint32_t zygote_egid) {
  if (!wants(plan, CLONE_NEWUSER)) return 0;
  if (pid <= 0) return -EINVAL;
  int privileged = zygote_euid == 0;
  uint32_t inside_uid = plan->namespaces.inside_uid;
  uint32_t inside_gid = plan->namespaces.inside_gid;
  uint32_t outside_uid = privileged ? inside_uid : zygote_euid;
  uint32_t outside_gid = privileged ? inside_gid : zygote_egid;
  int rc;
  if (!privileged) {
    /* The kernel refuses an unprivileged gid_map until setgroups is denied. */
    rc = write_proc_file(pid, "setgroups", "deny", 4);
    if (rc < 0) return rc;
  }
  rc = write_id_map(pid, "uid_map", inside_uid, outside_uid);
  if (rc < 0) return rc;
  return write_id_map(pid, "gid_map", inside_gid, outside_gid);
}

static int wait_for_id_maps(int sync_fd) {
  char byte;
  ssize_t n;
  do {
    n = read(sync_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  /* EOF: the zygote closed the pipe without writing, i.e. it failed to map us. */
  return n == 1 ? 0 : -EPIPE;
}

/*
 * Raw syscalls rather than glibc's set*id: those broadcast to every thread
 * glibc believes exists, and this child was made by a raw clone3.
 */
static int take_inside_ids(const struct hatch_plan *plan) {
  uint32_t uid = plan->namespaces.inside_uid;
  uint32_t gid = plan->namespaces.inside_gid;
  /*
   * Credentials in the plan mean the caller is root (TS plans a drop only
   * then), and only then did the zygote leave setgroups allowed: the child
   * still carries root's supplementary groups, which must go. If the two
   * ever disagree this fails with EPERM rather than running with them.
   */
  if (plan->has_credentials && syscall(SYS_setgroups, 0, NULL) < 0) return -errno;
  if (syscall(SYS_setresgid, gid, gid, gid) < 0) return -errno;
  /*
   * The planner never maps inside uid 0, so this is not a "root to
   * non-root" transition: the capabilities the new namespace granted survive
   * until execve (which drops them, euid being non-zero), and the mount stage
   * still needs them.
   */
  if (syscall(SYS_setresuid, uid, uid, uid) < 0) return -errno;
  return 0;
}

int hatch_child_enter_userns(const struct hatch_plan *plan, int sync_fd) {
  int rc = 0;
  if (wants(plan, CLONE_NEWUSER)) {
    rc = sync_fd < 0 ? -EBADF : wait_for_id_maps(sync_fd);
    if (rc == 0) rc = take_inside_ids(plan);
  }
  if (sync_fd >= 0) close(sync_fd);
  return rc;
}

/* A fresh network namespace has only lo, down; up, it lets a program talk to itself. */
static int bring_loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  ifr.ifr_flags = IFF_UP | IFF_RUNNING;
  int rc = ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
  close(s);
  return rc;
}

int hatch_child_setup_mounts(const struct hatch_plan *plan) {
  if (!plan->has_namespaces) return 0;
  uint32_t options = plan->namespaces.options;
  int new_mount_ns = wants(plan, CLONE_NEWNS);
  if ((options & (HATCH_NS_MOUNT_PROC | HATCH_NS_TMPFS_TMP)) != 0 && !new_mount_ns) return -EINVAL;
  if ((options & HATCH_NS_MOUNT_PROC) != 0 && !wants(plan, CLONE_NEWPID)) return -EINVAL;

  if (new_mount_ns) {
    /* Otherwise our mounts would propagate back to the host's shared mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -errno;
  }
  if ((options & HATCH_NS_MOUNT_PROC) != 0) {
    /* Over the host's /proc: the new one shows only this pid namespace. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -errno;
  }
  if ((options & HATCH_NS_TMPFS_TMP) != 0) {
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, TMPFS_TMP_OPTIONS) < 0) return -errno;
  }
  if (wants(plan, CLONE_NEWNET)) return bring_loopback_up();
  return 0;
}
