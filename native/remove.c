/*
 * Removal of a private temp dir that a sandboxed program filled with
 * whatever it liked: any depth, any name length, modes 000, symlinks, fifos,
 * sockets. Runs in a zygote child that has already applied its own sandbox
 * (the directory's owner uid, Landlock write access to the directory alone),
 * never in Node, so nothing here can block the caller or reach past the dir.
 *
 * Every step is relative to an fd opened O_NOFOLLOW, and links are unlinked,
 * never entered. Depth costs nothing: a directory found two levels down is
 * renamed up to the top before it is entered, so at most two directory fds
 * are open and no path is ever built. Nothing is allocated.
 *
 * The directory itself stays: its parent is the library's own (not writable
 * by the sandbox's uid, and outside its Landlock rules), so Node removes the
 * then empty directory with one rmdir, which never follows a link.
 */
#include "remove.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernel_compat.h"
#include "util.h"

#define DENTS_BUFFER 32768
#define MOVED_NAME_MAX 48

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

/* One listing buffer per level: the top, and the directory entered below it. */
static char dents[2][DENTS_BUFFER] __attribute__((aligned(8)));
static uint64_t moved_count;

static int is_dot(const char *name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

/* chmod without following: through an O_PATH fd of the entry itself, never of what a symlink names. */
static void make_searchable(int dir_fd, const char *name) {
  int fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    char path[40] = "/proc/self/fd/";
    hatch_utoa((uint64_t)fd, path + 14);
    (void)chmod(path, 0700);
  }
  close(fd);
}

static int open_dir(int dir_fd, const char *name) {
  int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == EACCES) {
    make_searchable(dir_fd, name);
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  return fd;
}

/* A fresh name in the top directory for a subtree moved up. */
static void moved_name(char out[MOVED_NAME_MAX]) {
  static const char prefix[] = ".hatchery-rm-";
  memcpy(out, prefix, sizeof prefix - 1);
  hatch_utoa(++moved_count, out + sizeof prefix - 1);
}

/*
 * One pass over the entries of `dir_fd`. Files, links and the like are
 * unlinked. With top_fd >= 0 (dir_fd is a child of the top) a directory is
 * renamed up into the top; with top_fd < 0 (dir_fd is the top) it is entered
 * and emptied one level down, then removed. Returns how many entries were
 * seen, or -errno on a failure that stops progress.
 */
static long sweep(int dir_fd, int top_fd) {
  char *buf = dents[top_fd < 0 ? 0 : 1];
  long seen = 0;
  if (lseek(dir_fd, 0, SEEK_SET) < 0) return -errno;
  for (;;) {
    long n = syscall(SYS_getdents64, dir_fd, buf, DENTS_BUFFER);
    if (n < 0) return -errno;
    if (n == 0) return seen;
    for (long off = 0; off < n;) {
      struct linux_dirent64 *d = (struct linux_dirent64 *)(buf + off);
      off += d->d_reclen;
      if (is_dot(d->d_name)) continue;
      seen++;
      if (unlinkat(dir_fd, d->d_name, 0) == 0 || errno == ENOENT) continue;
      if (errno != EISDIR && errno != EPERM) return -errno;
      if (top_fd >= 0) {
        char name[MOVED_NAME_MAX];
        int rc;
        int opened_up = 0;
        for (;;) {
          moved_name(name); /* a name the program made up could be taken: never replace it */
          rc = (int)syscall(SYS_renameat2, dir_fd, d->d_name, top_fd, name, RENAME_NOREPLACE);
          if (rc == 0 || errno == EEXIST) {
            if (rc == 0) break;
            continue;
          }
          /* Moving a directory rewrites its "..": it must be writable (mode 000 is not). */
          if (errno != EACCES || opened_up) break;
          make_searchable(dir_fd, d->d_name);
          opened_up = 1;
        }
        if (rc != 0 && errno != ENOENT) return -errno;
        continue;
      }
      int child = open_dir(dir_fd, d->d_name);
      if (child < 0) {
        if (errno == ENOENT) continue;
        if (errno == ENOTDIR || errno == ELOOP) return -EPERM; /* not unlinkable and not a directory */
        return -errno;
      }
      /* Readable but not writable (0555, 0500: a Go module cache): its entries could be listed but not removed. */
      (void)fchmod(child, 0700);
      long inner;
      do inner = sweep(child, dir_fd);
      while (inner > 0);
      close(child);
      if (inner < 0) return inner;
      if (unlinkat(dir_fd, d->d_name, AT_REMOVEDIR) != 0 && errno != ENOENT) return -errno;
    }
  }
}

int hatch_empty_tree(const char *path) {
  int top = open_dir(AT_FDCWD, path); /* a program may have made its own temp dir mode 000 */
  if (top < 0) return errno == ENOENT ? 0 : -errno;
  (void)fchmod(top, 0700);
  long rc;
  /* Renames into the top while it is listed may be missed by one pass; another pass finds them. */
  do rc = sweep(top, -1);
  while (rc > 0);
  close(top);
  return rc < 0 ? (int)rc : 0;
}
