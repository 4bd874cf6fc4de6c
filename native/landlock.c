/*
 * Landlock, child side: build the ruleset TypeScript planned and restrict
 * ourselves with it. Raw syscalls only; the uapi structs are declared here
 * because Debian 12's <linux/landlock.h> stops at ABI 2 (no net, no scopes).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "kernel_compat.h"
#include "plan.h"
#include "util.h"

/* Values are the kernel uapi; names are ours so old headers cannot clash. */
#define LL_RULE_PATH_BENEATH 1
#define LL_RULE_NET_PORT 2

#define LL_FS_EXECUTE (1ULL << 0)
#define LL_FS_WRITE_FILE (1ULL << 1)
#define LL_FS_READ_FILE (1ULL << 2)
#define LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

/* The only rights a rule on a non-directory may carry; others are EINVAL. */
#define LL_FS_FILE_RIGHTS (LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | LL_FS_IOCTL_DEV)

struct ll_ruleset_attr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net; /* ABI 4 */
  uint64_t scoped;             /* ABI 6 */
};

struct ll_path_beneath_attr {
  uint64_t allowed_access;
  int32_t parent_fd;
} __attribute__((packed));

struct ll_net_port_attr {
  uint64_t allowed_access;
  uint64_t port;
};

/*
 * The kernel sizes the attr by the caller's size argument; a kernel older
 * than the field rejects a size that includes it only if it is non-zero, but
 * passing exactly what the planned ABI defines keeps errors meaningful.
 */
static size_t ruleset_attr_size(uint32_t abi) {
  if (abi >= 6) return sizeof(struct ll_ruleset_attr);
  if (abi >= 4) return offsetof(struct ll_ruleset_attr, scoped);
  return offsetof(struct ll_ruleset_attr, handled_access_net);
}

/*
 * hatch_open_exact without openat2: one O_NOFOLLOW open per component, each
 * refused if it is a symlink (O_PATH | O_NOFOLLOW opens the link itself).
 * "." and ".." are followed as openat2 follows them.
 */
static int open_exact_walk(const char *path) {
  if (path[0] != '/') return -EINVAL;
  int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return -errno;
  char name[NAME_MAX + 1];
  for (const char *p = path;;) {
    while (*p == '/') p++;
    if (*p == '\0') return dir;
    size_t n = 0;
    while (p[n] != '\0' && p[n] != '/') n++;
    if (n > NAME_MAX) {
      hatch_close(dir);
      return -ENAMETOOLONG;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    p += n;
    int next = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    int err = next < 0 ? errno : 0;
    hatch_close(dir);
    if (next < 0) return -err;
    struct stat st;
    err = fstat(next, &st) < 0 ? errno : S_ISLNK(st.st_mode) ? ELOOP : 0;
    if (err != 0) {
      hatch_close(next);
      return -err;
    }
    dir = next;
  }
}

/*
 * openat2 with RESOLVE_NO_SYMLINKS (Linux 5.6: every kernel with Landlock
 * or the mount API has it), or the walk above where a container's seccomp
 * profile answers openat2 with ENOSYS or EPERM.
 */
int hatch_open_exact(const char *path) {
#ifndef HATCH_TEST_NO_OPENAT2
  struct hatch_open_how how = {.flags = O_PATH | O_CLOEXEC, .mode = 0, .resolve = HATCH_RESOLVE_NO_SYMLINKS};
  long fd = syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
  if (fd >= 0) return (int)fd;
  if (errno != ENOSYS && errno != EPERM) return -errno;
#endif
  return open_exact_walk(path);
}

static int add_path_rule(int ruleset_fd, const struct hatch_landlock_path *p, uint64_t handled_fs) {
  hatch_autoclose int fd = p->exact ? hatch_open_exact(p->path) : open(p->path, O_PATH | O_CLOEXEC);
  if (fd < 0) {
    int err = p->exact ? -fd : errno;
    /* A symlink put on a path a pool's call narrowed to, since it was judged: refused, never followed or skipped. */
    if (p->exact && err == ELOOP) return -ELOOP;
    /*
     * Absent (system defaults such as /lib64), or out of the child's reach
     * (it already runs as its own uid, e.g. a program in a root-only dir):
     * a rule would grant nothing, and the access itself will fail with the
     * errno the user should see (an exec of that program: EACCES at exec).
     */
    return err == ENOENT || err == EACCES || err == ENOTDIR || err == ELOOP ? 0 : -err;
  }
  /* Rights outside handled_fs are already allowed everywhere: dropping them grants nothing. */
  uint64_t allowed = p->allowed_access & handled_fs;
  if (allowed == 0) return 0; /* an empty rule is ENOMSG, and would mean nothing anyway */
  struct ll_path_beneath_attr attr = {.allowed_access = allowed, .parent_fd = fd};
  if (syscall(SYS_landlock_add_rule, ruleset_fd, LL_RULE_PATH_BENEATH, &attr, 0) == 0) return 0;
  /*
   * A non-directory takes only file rights (EINVAL otherwise): asked only
   * then, so a directory's rule (most of them) costs no fstat. The narrower
   * rule grants a subset of the one refused, so nothing is ever widened.
   */
  int err = errno;
  struct stat st;
  if (err != EINVAL || (allowed & ~LL_FS_FILE_RIGHTS) == 0) return -err;
  if (fstat(fd, &st) < 0) return -errno;
  if (S_ISDIR(st.st_mode)) return -EINVAL;
  attr.allowed_access = allowed & LL_FS_FILE_RIGHTS;
  if (attr.allowed_access == 0) return 0;
  return syscall(SYS_landlock_add_rule, ruleset_fd, LL_RULE_PATH_BENEATH, &attr, 0) == 0 ? 0 : -errno;
}

static int add_rules(int ruleset_fd, const struct hatch_plan *plan) {
  for (size_t i = 0; i < plan->landlock_path_count; i++) {
    int rc = add_path_rule(ruleset_fd, &plan->landlock_paths[i], plan->landlock.handled_access_fs);
    if (rc < 0) return rc;
  }
  for (size_t i = 0; i < plan->landlock_port_count; i++) {
    struct ll_net_port_attr attr = {
        .allowed_access = plan->landlock_ports[i].allowed_access & plan->landlock.handled_access_net,
        .port = plan->landlock_ports[i].port,
    };
    if (attr.allowed_access == 0) continue;
    if (syscall(SYS_landlock_add_rule, ruleset_fd, LL_RULE_NET_PORT, &attr, 0) < 0) return -errno;
  }
  return 0;
}

int hatch_child_apply_landlock(const struct hatch_plan *plan) {
  if (!plan->has_landlock) return 0;
  uint32_t abi = plan->landlock.abi;
  if (abi < 1) return -EINVAL;
  if (abi < 4 && plan->landlock.handled_access_net != 0) return -EINVAL;
  if (abi < 6 && plan->landlock.scoped != 0) return -EINVAL;

  struct ll_ruleset_attr attr = {
      .handled_access_fs = plan->landlock.handled_access_fs,
      .handled_access_net = plan->landlock.handled_access_net,
      .scoped = plan->landlock.scoped,
  };
  hatch_autoclose int ruleset_fd = (int)syscall(SYS_landlock_create_ruleset, &attr, ruleset_attr_size(abi), 0);
  if (ruleset_fd < 0) return -errno;

  int rc = add_rules(ruleset_fd, plan);
  /* no_new_privs was set by the previous stage; flags 0 keeps the kernel's default logging. */
  if (rc == 0 && syscall(SYS_landlock_restrict_self, ruleset_fd, 0) < 0) rc = -errno;
  return rc;
}
