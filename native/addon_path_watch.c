/*
 * Change notice for the directories a kept sandbox plan's paths were
 * resolved through (src/policy/path-watch.ts): an inotify instance on those
 * directories and the mount table's own poll notice, so that a run whose
 * policy compiled before asks "did anything change?" with one call instead
 * of stat(2)ing every path again.
 *
 * Only directories on local filesystems are watched: inotify reports what
 * this kernel's VFS does, not what another machine did to a network or
 * FUSE mount, nor what procfs and sysfs make up as they are read. For any
 * other directory pathWatchAdd says no, and the caller keeps checking by stat.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/inotify.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "addon.h"
#include "addon_napi.h"

/* What changes a directory's entries or what its path names; a mount shows in the mount table's notice instead. */
#define WATCHED_EVENTS \
  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

/* statfs f_type of filesystems whose every change goes through this kernel (linux/magic.h). */
static const unsigned long local_filesystems[] = {
    0xEF53,     /* ext2, ext3, ext4 */
    0x58465342, /* xfs */
    0x9123683E, /* btrfs */
    0x01021994, /* tmpfs, devtmpfs */
    0x858458F6, /* ramfs */
    0x794C7630, /* overlayfs */
    0xF2F52010, /* f2fs */
    0x73717368, /* squashfs (read-only) */
    0xE0F5E1E2, /* erofs (read-only) */
    0x2FC12FC1, /* zfs */
};

static bool is_local_filesystem(unsigned long type) {
  for (size_t i = 0; i < sizeof local_filesystems / sizeof local_filesystems[0]; i++)
    if (local_filesystems[i] == type) return true;
  return false;
}

/* pathWatchOpen(): [inotifyFd, mountsFd], both O_CLOEXEC (the first O_NONBLOCK); throws on failure. */
napi_value path_watch_open(napi_env env, napi_callback_info info) {
  if (!get_args(env, info, 0, NULL, NULL)) return NULL;
  int inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_fd < 0) return throw_errno(env, "inotify_init1", errno);
  /* Opening it takes the mount table's current event count: poll says POLLPRI once it moves on. */
  int mounts_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
  if (mounts_fd < 0) {
    int err = errno;
    close(inotify_fd);
    return throw_errno(env, "open /proc/self/mountinfo", err);
  }
  return make_fd_pair(env, inotify_fd, mounts_fd, "pathWatchOpen result");
}

/*
 * pathWatchAdd(inotifyFd, dir): the watch descriptor, or -errno: -EREMOTE for
 * a directory not on a local filesystem, -ENOTDIR, -ENOENT, -ENOSPC (the
 * user's watch limit) and the like from inotify_add_watch.
 */
napi_value path_watch_add(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int fd;
  if (!get_fd(env, args[0], "fd", &fd)) return NULL;
  char buf[PATH_MAX + 1];
  char *dir = get_cstring_into(env, args[1], "dir", buf, sizeof buf);
  if (!dir) return NULL;
  int result;
  struct statfs fs;
  if (statfs(dir, &fs) != 0) {
    result = -errno;
  } else if (!is_local_filesystem((unsigned long)fs.f_type)) {
    result = -EREMOTE;
  } else {
    int wd = inotify_add_watch(fd, dir, WATCHED_EVENTS);
    result = wd >= 0 ? wd : -errno;
  }
  if (dir != buf) free(dir);
  return make_int(env, result);
}

/*
 * pathWatchChanged(inotifyFd, mountsFd): whether anything was reported since
 * the last call. Reads every queued inotify event (an overflow counts as a
 * change too) and polls the mount table once. Returns 1 (changed), 0 (no
 * change) or -errno when either fd failed (then nothing can be trusted).
 */
napi_value path_watch_changed(napi_env env, napi_callback_info info) {
  napi_value args[2];
  if (!get_args(env, info, 2, args, NULL)) return NULL;
  int inotify_fd, mounts_fd;
  if (!get_fd(env, args[0], "inotifyFd", &inotify_fd) || !get_fd(env, args[1], "mountsFd", &mounts_fd)) return NULL;
  int changed = 0;
  /* Room for a few events with names; what does not fit is read on the next turn of the loop. */
  char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  for (int rounds = 0; rounds < 64; rounds++) {
    ssize_t n = read(inotify_fd, events, sizeof events);
    if (n > 0) {
      changed = 1;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    return make_int(env, n < 0 ? -errno : -EIO);
  }
  struct pollfd p = {.fd = mounts_fd, .events = POLLPRI, .revents = 0};
  int ready;
  /* A signal (a profiler's SIGPROF, say) may interrupt even a poll that does not wait. */
  for (int tries = 0; (ready = poll(&p, 1, 0)) < 0 && errno == EINTR && tries < 64; tries++) {
  }
  if (ready < 0) return make_int(env, -errno);
  if (ready > 0) {
    if (p.revents & POLLNVAL) return make_int(env, -EBADF);
    if (p.revents & (POLLPRI | POLLERR)) changed = 1;
  }
  return make_int(env, changed);
}
