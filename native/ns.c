/*
 * Namespaces. The namespaces themselves come from clone3 flags chosen in
 * TypeScript (plan->namespaces.clone_flags); this file does what clone3
 * cannot: the user namespace id maps (zygote side) and, in the child, waiting
 * for those maps, taking the planned ids, and the mount / network setup.
 *
 * Id maps (docs/ARCHITECTURE.md, "Identities"), chosen by whether the plan
 * carries credentials (TS plans them only for a root caller holding the
 * capabilities of the root path, src/policy/privilege.ts):
 *   no credentials: "<inside_uid> <zygote_euid> 1", setgroups "deny" first
 *                   (the only map an unprivileged writer may write; a root
 *                   without those capabilities is one, as nobody inside).
 *   credentials:    "<inside_uid> <credentials uid> 1", setgroups left
 *                   "allow": the child is its operation's own uid outside
 *                   (65534 inside), and clears the zygote's supplementary
 *                   groups itself.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plan.h"
#include "util.h"

#include "mount_api.h"

/* "/proc/" + 10 digits + "/setgroups" + NUL, with room to spare. */
#define PROC_PATH_MAX 48
/* "<u32> <u32> 1\n" */
#define ID_MAP_MAX 32
#define PRIVATE_TMP_OPTIONS_MAX 96
/* A hiding tmpfs holds only the directories and files that restored trees are mounted on. */
#define HIDE_TMPFS_OPTIONS "size=4k,nr_inodes=1024,mode=0755"
#define HIDE_TMPFS_FLAGS (MS_NOSUID | MS_NODEV | MS_NOEXEC)
#define MOUNT_PATH_MAX 4096

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
  hatch_autoclose int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n;
  do {
    n = write(fd, data, len);
  } while (n < 0 && errno == EINTR);
  return n < 0 ? -errno : ((size_t)n == len ? 0 : -EIO);
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
int hatch_parent_write_id_maps(const struct hatch_plan *plan, int pid, uint32_t zygote_euid, uint32_t zygote_egid) {
  if (!wants(plan, CLONE_NEWUSER)) return 0;
  if (pid <= 0) return -EINVAL;
  int privileged = plan->has_credentials;
  uint32_t inside_uid = plan->namespaces.inside_uid;
  uint32_t inside_gid = plan->namespaces.inside_gid;
  /* A root caller's child is its operation's own uid outside (the credentials), whatever it is called inside. */
  uint32_t outside_uid = privileged ? (plan->has_credentials ? plan->uid : inside_uid) : zygote_euid;
  uint32_t outside_gid = privileged ? (plan->has_credentials ? plan->gid : inside_gid) : zygote_egid;
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

int hatch_write_self_map(int pid, uint32_t outside_uid, uint32_t outside_gid) {
  int rc = write_proc_file(pid, "setgroups", "deny", 4);
  if (rc == 0) rc = write_id_map(pid, "uid_map", 0, outside_uid);
  if (rc == 0) rc = write_id_map(pid, "gid_map", 0, outside_gid);
  return rc;
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

int hatch_child_enter_userns(const struct hatch_plan *plan) {
  return wants(plan, CLONE_NEWUSER) ? take_inside_ids(plan) : 0;
}

/* A fresh network namespace has only lo, down; up, it lets a program talk to itself. */
int hatch_bring_loopback_up(void) {
  hatch_autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -errno;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  ifr.ifr_flags = IFF_UP | IFF_RUNNING;
  return ioctl(s, SIOCSIFFLAGS, &ifr) < 0 ? -errno : 0;
}

/*
 * Mount operations (enum hatch_mount_op). TypeScript orders them; this only
 * applies them. A path the child cannot reach (it already runs as its inside
 * uid) is skipped like a missing one: it could not reach it later either.
 */
static int unreachable(int err) { return err == ENOENT || err == EACCES || err == ENOTDIR || err == ELOOP; }

/* Trees cloned by PRESERVE, in order, or one of these where the path was skipped. */
#define PRESERVED_MISSING (-1)
#define PRESERVED_UNREACHABLE (-2) /* EACCES: a directory above it is closed to the child */
static int preserved[HATCH_MAX_MOUNT_OPS];
/* Per op index: a HIDE tmpfs left writable for a RESTORE beneath it, still to be sealed. */
static uint8_t hide_unsealed[HATCH_MAX_MOUNT_OPS];
static char mountpoint_buf[MOUNT_PATH_MAX];

static int is_beneath(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (strncmp(path, dir, n) != 0) return 0;
  return path[n] == '/' || (n > 0 && dir[n - 1] == '/' && path[n] != '\0');
}

static int covers(const char *path, const char *dir) { return strcmp(path, dir) == 0 || is_beneath(path, dir); }

/* RESTORE needs to create its mount point inside the tmpfs, so that tmpfs stays writable until sealed. */
static int restore_follows(const struct hatch_plan *plan, size_t hide_index) {
  const char *dir = plan->mount_ops[hide_index].path;
  for (size_t i = hide_index + 1; i < plan->mount_op_count; i++)
    if (plan->mount_ops[i].op == HATCH_MOUNT_RESTORE && is_beneath(plan->mount_ops[i].path, dir)) return 1;
  return 0;
}

/*
 * Every read-only HIDE shows the same empty tmpfs: the first one mounts it,
 * the others bind that mount (a new superblock per hidden dir cost more to
 * make and, at the namespace's end, to tear down). A HIDE with a RESTORE
 * beneath gets a tmpfs of its own, since the restore's mount point is made
 * inside it and must not appear in the other hidden dirs. Index of the
 * shared one's op, or -1.
 */
static int shared_hide = -1;

static int hide_path(const struct hatch_plan *plan, size_t index) {
  const char *path = plan->mount_ops[index].path;
  int writable = restore_follows(plan, index);
  int rc;
  if (!writable && shared_hide >= 0) {
    rc = mount(plan->mount_ops[shared_hide].path, path, NULL, MS_BIND, NULL);
  } else {
    unsigned long flags = HIDE_TMPFS_FLAGS | (writable ? 0 : MS_RDONLY);
    rc = mount("tmpfs", path, "tmpfs", flags, HIDE_TMPFS_OPTIONS);
  }
  if (rc < 0) {
    /* ENOTDIR here may mean "not a directory": refuse rather than leave it visible. */
    return errno == ENOENT || errno == EACCES || errno == ELOOP ? 0 : -errno;
  }
  if (!writable && shared_hide < 0) shared_hide = (int)index;
  hide_unsealed[index] = (uint8_t)writable;
  return 0;
}

static int seal_hidden(const struct hatch_plan *plan, size_t index) {
  if (!hide_unsealed[index]) return 0;
  hide_unsealed[index] = 0;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY | HIDE_TMPFS_FLAGS;
  return mount(NULL, plan->mount_ops[index].path, NULL, flags, NULL) < 0 ? -errno : 0;
}

#define PRESERVE_FLAGS (OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE)

/*
 * A step with HATCH_MOUNT_OP_EXACT (a path a pool's call narrowed to) acts
 * on its path opened with no symlink on it (hatch_open_exact): on what
 * TypeScript judged. A symlink put there since is ELOOP, never skipped.
 */
static int preserve_tree(const struct hatch_mount_step *step, int *slot) {
  int err = 0;
  if (step->flags & HATCH_MOUNT_OP_EXACT) {
    hatch_autoclose int at = hatch_open_exact(step->path);
    if (at == -ELOOP) return -ELOOP;
    if (at < 0) err = -at;
    else if ((*slot = (int)syscall(SYS_open_tree, at, "", PRESERVE_FLAGS | AT_EMPTY_PATH)) < 0) err = errno;
  } else if ((*slot = (int)syscall(SYS_open_tree, AT_FDCWD, step->path, PRESERVE_FLAGS)) < 0) {
    err = errno;
  }
  if (err == 0) return 0;
  *slot = err == EACCES ? PRESERVED_UNREACHABLE : PRESERVED_MISSING;
  return unreachable(err) ? 0 : -err;
}

/* Every missing directory of path, then path itself: a directory, or a file with `file_mode`. */
static int make_mountpoint(const char *path, int is_dir, mode_t file_mode) {
  size_t n = strlen(path);
  if (n >= sizeof mountpoint_buf) return -ENAMETOOLONG;
  memcpy(mountpoint_buf, path, n + 1);
  for (size_t i = 1; i < n; i++) {
    if (mountpoint_buf[i] != '/') continue;
    mountpoint_buf[i] = '\0';
    int rc = mkdir(mountpoint_buf, 0755);
    mountpoint_buf[i] = '/';
    if (rc < 0 && errno != EEXIST) return -errno;
  }
  int rc = is_dir ? mkdir(path, 0755) : mknod(path, S_IFREG | file_mode, 0);
  return rc < 0 && errno != EEXIST ? -errno : 0;
}

static int restore_tree(const char *path, int tree) {
  /*
   * A path the child could not reach on the host stays unusable, with the
   * same errno: a mode-0 file on a noexec mount (EACCES for open and exec),
   * rather than ENOENT, which would send the user looking in the wrong place.
   */
  if (tree == PRESERVED_UNREACHABLE) return make_mountpoint(path, 0, 0);
  if (tree < 0) return 0;
  struct stat st;
  if (fstat(tree, &st) < 0) return -errno;
  int rc = make_mountpoint(path, S_ISDIR(st.st_mode), 0644);
  if (rc < 0) return rc;
  if (syscall(SYS_move_mount, tree, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0) return -errno;
  return 0;
}

/* mount_setattr is Linux 5.12+; before it ENOSYS is reported at the mount stage. */
static int set_read_only(const char *path) {
  struct hatch_mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
  return syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr) < 0 ? -errno : 0;
}

/*
 * The bind makes path a mount root, so clearing read-only changes only it.
 * Read-only that the parent namespace set is locked (EPERM, for the whole
 * call if any mount below has it): then the mount at path alone, and if that
 * is locked too, path stays read-only, as the host has it.
 */
static int clear_read_only(int dfd, const char *path, unsigned int at_flags) {
  struct hatch_mount_attr attr = {.attr_clr = MOUNT_ATTR_RDONLY};
  if (syscall(SYS_mount_setattr, dfd, path, at_flags | AT_RECURSIVE, &attr, sizeof attr) == 0) return 0;
  if (errno != EPERM) return -errno;
  if (syscall(SYS_mount_setattr, dfd, path, at_flags, &attr, sizeof attr) == 0) return 0;
  return errno == EPERM ? 0 : -errno;
}

static int make_writable(const char *path) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) return unreachable(errno) ? 0 : -errno;
  return clear_read_only(AT_FDCWD, path, 0);
}

/* make_writable on the path opened exactly: the same bind, made from that fd (a clone of its tree moved onto it). */
static int make_writable_exact(const char *path) {
  hatch_autoclose int at = hatch_open_exact(path);
  if (at < 0) return at == -ELOOP || !unreachable(-at) ? at : 0;
  hatch_autoclose int tree = (int)syscall(SYS_open_tree, at, "", PRESERVE_FLAGS | AT_EMPTY_PATH);
  if (tree < 0) return -errno;
  if (syscall(SYS_move_mount, tree, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0) return -errno;
  return clear_read_only(tree, "", AT_EMPTY_PATH);
}

static int apply_mount_op(const struct hatch_plan *plan, size_t index, size_t *preserves, size_t *restores) {
  const char *path = plan->mount_ops[index].path;
  switch (plan->mount_ops[index].op) {
  case HATCH_MOUNT_PRESERVE:
    return preserve_tree(&plan->mount_ops[index], &preserved[(*preserves)++]);
  case HATCH_MOUNT_HIDE:
    return hide_path(plan, index);
  case HATCH_MOUNT_RESTORE:
    if (*restores >= *preserves) return -EINVAL;
    return restore_tree(path, preserved[(*restores)++]);
  case HATCH_MOUNT_READONLY_ALL: {
    int rc = set_read_only(path);
    if (rc < 0) return rc;
    for (size_t i = 0; i < index; i++)
      if (hide_unsealed[i] && covers(plan->mount_ops[i].path, path)) hide_unsealed[i] = 0;
    return 0;
  }
  case HATCH_MOUNT_BIND_RW:
    return plan->mount_ops[index].flags & HATCH_MOUNT_OP_EXACT ? make_writable_exact(path) : make_writable(path);
  }
  return -EINVAL;
}

static int apply_mount_ops(const struct hatch_plan *plan) {
  size_t preserves = 0, restores = 0;
  int rc = 0;
  for (size_t i = 0; i < plan->mount_op_count; i++) hide_unsealed[i] = 0;
  shared_hide = -1;
  for (size_t i = 0; i < plan->mount_op_count && rc == 0; i++) rc = apply_mount_op(plan, i, &preserves, &restores);
  for (size_t i = 0; i < plan->mount_op_count && rc == 0; i++)
    if (plan->mount_ops[i].op == HATCH_MOUNT_HIDE) rc = seal_hidden(plan, i);
  for (size_t i = 0; i < preserves; i++)
    if (preserved[i] >= 0) close(preserved[i]);
  return rc;
}

/*
 * The operation's private temp dir: one size- and inode-capped tmpfs,
 * mounted last (after the tree was made read-only), so it stays writable.
 * Its subdirectory "tmp" is bound over the mount point (/tmp, or /var/tmp
 * when the policy grants paths under /tmp), and "shm" over /dev/shm when
 * asked: both share the one quota, and the kernel frees it all when the
 * namespace dies. The tmpfs root itself ends up covered, out of reach.
 */
#define PRIVATE_TMP_SCRATCH_MAX 4096
static char private_tmp_scratch[PRIVATE_TMP_SCRATCH_MAX];

static int mount_private_tmp(const struct hatch_plan *plan) {
  static char options[PRIVATE_TMP_OPTIONS_MAX];
  const char *target = plan->private_tmp_path;
  size_t target_len = strlen(target);
  if (target_len + sizeof "/shm" > sizeof private_tmp_scratch) return -ENAMETOOLONG;
  size_t at = append(options, 0, "mode=0755,size=");
  char digits[24];
  hatch_utoa(plan->private_tmp.size_bytes, digits);
  at = append(options, at, digits);
  at = append(options, at, ",nr_inodes=");
  hatch_utoa(plan->private_tmp.inodes, digits);
  at = append(options, at, digits);
  options[at] = '\0';
  if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, options) < 0) return -errno;
  /* "<target>/tmp" and "<target>/shm": sticky and world-writable, as programs expect of a temp dir (mkdir obeys the umask). */
  memcpy(private_tmp_scratch, target, target_len);
  memcpy(private_tmp_scratch + target_len, "/shm", 5);
  if (plan->private_tmp.flags & HATCH_PRIVATE_TMP_SHM) {
    if (mkdir(private_tmp_scratch, 01777) < 0 || chmod(private_tmp_scratch, 01777) < 0) return -errno;
    if (mount(private_tmp_scratch, "/dev/shm", NULL, MS_BIND, NULL) < 0 && errno != ENOENT) return -errno;
  }
  memcpy(private_tmp_scratch + target_len, "/tmp", 5);
  if (mkdir(private_tmp_scratch, 01777) < 0 || chmod(private_tmp_scratch, 01777) < 0) return -errno;
  if (mount(private_tmp_scratch, target, NULL, MS_BIND, NULL) < 0) return -errno;
  return 0;
}

int hatch_child_setup_mounts(const struct hatch_plan *plan) {
  if (!plan->has_namespaces) return plan->has_private_tmp ? -EINVAL : 0;
  uint32_t options = plan->namespaces.options;
  int new_mount_ns = wants(plan, CLONE_NEWNS);
  if (((options & HATCH_NS_MOUNT_PROC) != 0 || plan->mount_op_count > 0 || plan->has_private_tmp) && !new_mount_ns)
    return -EINVAL;
  if ((options & HATCH_NS_MOUNT_PROC) != 0 && !wants(plan, CLONE_NEWPID)) return -EINVAL;

  if (new_mount_ns) {
    /* Otherwise our mounts would propagate back to the host's shared mounts. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) return -errno;
  }
  if ((options & HATCH_NS_MOUNT_PROC) != 0) {
    /* Over the host's /proc: the new one shows only this pid namespace. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -errno;
  }
  if (plan->mount_op_count > 0) {
    int rc = apply_mount_ops(plan);
    if (rc < 0) return rc;
  }
  if (plan->has_private_tmp) {
    int rc = mount_private_tmp(plan);
    if (rc < 0) return rc;
  }
  /* A network namespace from the zygote's stock (ns_stock.c) came with lo up, and is not ours to change. */
  if (wants(plan, CLONE_NEWNET) && !plan->loopback_ready) return hatch_bring_loopback_up();
  return 0;
}
