/*
 * hatchery-probe: tries one way out of the sandbox and says what happened.
 *
 *   hatchery-probe <attempt> [args...]
 *
 * Every attempt prints exactly one line on stdout and exits 0 once it has
 * made the attempt, whatever the kernel answered:
 *
 *   denied ENAME [detail]   the escape failed with that errno
 *   allowed [detail]        the escape worked (a sandbox bug, unless the test expects it)
 *   <key>=<value> ...       reports (whoami, proc-list)
 *
 * Exit 1: the attempt could not even be set up ("setup-failed <step> ENAME").
 * Exit 2: usage error. Attempts that the sandbox is expected to kill (cpu-spin,
 * memory-bomb without a limit) may of course print nothing.
 *
 * Only raw syscalls and static buffers: no libseccomp, no liburing, so the
 * probe says exactly which call the kernel refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <poll.h>
#include <termios.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <linux/seccomp.h>

#ifndef TIOCSTI
#define TIOCSTI 0x5412
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define PROBE_KEYCTL_GET_KEYRING_ID 0
#define PROBE_KEY_SPEC_SESSION_KEYRING (-3)
#define PROBE_ADDR_NO_RANDOMIZE 0x0040000
#define PROBE_KCMP_FILE 0
#define PROBE_MADV_COLD 20
#define PROBE_FAN_CLASS_NOTIF 0
#define PROBE_FAN_REPORT_FID 0x200
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#ifndef SYS_process_mrelease
#define SYS_process_mrelease 448
#endif

/* Names rather than strerror() text: tests match on them. */
static const struct {
  int err;
  const char *name;
} errno_names[] = {
    {EPERM, "EPERM"},         {ENOENT, "ENOENT"},       {ESRCH, "ESRCH"},
    {EINTR, "EINTR"},         {EIO, "EIO"},             {ENXIO, "ENXIO"},
    {E2BIG, "E2BIG"},         {ENOEXEC, "ENOEXEC"},     {EBADF, "EBADF"},
    {ECHILD, "ECHILD"},       {EAGAIN, "EAGAIN"},       {ENOMEM, "ENOMEM"},
    {EACCES, "EACCES"},       {EFAULT, "EFAULT"},       {EBUSY, "EBUSY"},
    {EEXIST, "EEXIST"},       {EXDEV, "EXDEV"},         {ENODEV, "ENODEV"},
    {ENOTDIR, "ENOTDIR"},     {EISDIR, "EISDIR"},       {EINVAL, "EINVAL"},
    {ENFILE, "ENFILE"},       {EMFILE, "EMFILE"},       {ENOTTY, "ENOTTY"},
    {ETXTBSY, "ETXTBSY"},     {EFBIG, "EFBIG"},         {ENOSPC, "ENOSPC"},
    {ESPIPE, "ESPIPE"},       {EROFS, "EROFS"},         {EMLINK, "EMLINK"},
    {EPIPE, "EPIPE"},         {ERANGE, "ERANGE"},       {ENAMETOOLONG, "ENAMETOOLONG"},
    {ENOSYS, "ENOSYS"},       {ELOOP, "ELOOP"},         {EOVERFLOW, "EOVERFLOW"},
    {ENOTSOCK, "ENOTSOCK"},   {EPROTOTYPE, "EPROTOTYPE"}, {EPROTONOSUPPORT, "EPROTONOSUPPORT"},
    {ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT"}, {EOPNOTSUPP, "EOPNOTSUPP"},
    {EAFNOSUPPORT, "EAFNOSUPPORT"}, {EADDRINUSE, "EADDRINUSE"}, {EADDRNOTAVAIL, "EADDRNOTAVAIL"},
    {ENETDOWN, "ENETDOWN"},   {ENETUNREACH, "ENETUNREACH"}, {ECONNRESET, "ECONNRESET"},
    {EISCONN, "EISCONN"},     {ENOTCONN, "ENOTCONN"},   {ETIMEDOUT, "ETIMEDOUT"},
    {ECONNREFUSED, "ECONNREFUSED"}, {EHOSTUNREACH, "EHOSTUNREACH"}, {EALREADY, "EALREADY"},
    {EINPROGRESS, "EINPROGRESS"}, {ENOKEY, "ENOKEY"},   {EUSERS, "EUSERS"},
};

static const char *errno_name(int err) {
  static char unknown[24];
  for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
    if (errno_names[i].err == err) return errno_names[i].name;
  snprintf(unknown, sizeof unknown, "E%d", err);
  return unknown;
}

/* The single line every attempt ends with. */
static int denied(int err) {
  printf("denied %s\n", errno_name(err));
  return 0;
}

static int allowed(const char *detail) {
  printf(detail ? "allowed %s\n" : "allowed\n", detail);
  return 0;
}

static int setup_failed(const char *step, int err) {
  printf("setup-failed %s %s\n", step, errno_name(err));
  return 1;
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -EINVAL;
  *out = v;
  return 0;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char io_buf[65536];

/* ---------------------------------------------------------------- files */

static int read_path(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return denied(errno);
  ssize_t n = read(fd, io_buf, sizeof io_buf);
  int err = errno;
  close(fd);
  if (n < 0) return denied(err);
  char detail[64];
  snprintf(detail, sizeof detail, "%zd bytes", n);
  return allowed(detail);
}

static int attempt_read_file(int argc, char **argv) {
  if (argc != 1) return -1;
  return read_path(argv[0]);
}

static int attempt_write_file(int argc, char **argv) {
  if (argc != 1) return -1;
  int fd = open(argv[0], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return denied(errno);
  static const char mark[] = "written by hatchery-probe\n";
  ssize_t n = write(fd, mark, sizeof mark - 1);
  int err = errno;
  close(fd);
  if (n < 0) return denied(err);
  return allowed(NULL);
}

static int attempt_list_dir(int argc, char **argv) {
  if (argc != 1) return -1;
  int fd = open(argv[0], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return denied(errno);
  long entries = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, io_buf, sizeof io_buf);
    if (n < 0) {
      int err = errno;
      close(fd);
      return denied(err);
    }
    if (n == 0) break;
    for (long off = 0; off < n;) {
      unsigned short reclen;
      /* struct linux_dirent64: d_ino(8) d_off(8) d_reclen(2) d_type(1) d_name */
      memcpy(&reclen, io_buf + off + 16, sizeof reclen);
      const char *name = io_buf + off + 19;
      if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0) entries++;
      off += reclen;
    }
  }
  close(fd);
  char detail[64];
  snprintf(detail, sizeof detail, "%ld entries", entries);
  return allowed(detail);
}

/* A symlink is created inside the writable cwd; the escape is following it out. */
static int attempt_symlink_escape(int argc, char **argv) {
  if (argc != 1) return -1;
  static const char link_name[] = "probe-symlink";
  unlink(link_name);
  if (symlink(argv[0], link_name) != 0) return setup_failed("symlink", errno);
  return read_path(link_name);
}

/* A hard link would give the sandbox a name for the file inside its writable tree. */
static int attempt_hardlink_escape(int argc, char **argv) {
  if (argc != 1) return -1;
  static const char link_name[] = "probe-hardlink";
  unlink(link_name);
  if (link(argv[0], link_name) != 0) return denied(errno);
  return allowed(NULL);
}

/* A relative SRC that does not exist yet is created in cwd first: moving a file out. */
static int attempt_rename_escape(int argc, char **argv) {
  if (argc != 2) return -1;
  if (argv[0][0] != '/' && access(argv[0], F_OK) != 0) {
    int fd = open(argv[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return setup_failed("create", errno);
    close(fd);
  }
  if (rename(argv[0], argv[1]) != 0) return denied(errno);
  return allowed(NULL);
}

/* Enough "../" to climb from any cwd to /, then the target without its leading '/'. */
static int attempt_dotdot_escape(int argc, char **argv) {
  if (argc != 1 || argv[0][0] != '/') return -1;
  static char path[PATH_MAX];
  size_t len = 0;
  for (int i = 0; i < 40; i++) {
    memcpy(path + len, "../", 3);
    len += 3;
  }
  const char *rest = argv[0] + 1;
  if (len + strlen(rest) + 1 > sizeof path) return -1;
  memcpy(path + len, rest, strlen(rest) + 1);
  return read_path(path);
}

/* execve of a file outside the exec allowlist; on success the new program speaks. */
static int attempt_exec_file(int argc, char **argv) {
  if (argc < 1) return -1;
  char *const envp[] = {NULL};
  execve(argv[0], argv, envp);
  return denied(errno);
}

/*
 * Metadata changes: Landlock (through ABI 7) has no right for chmod, utimes or
 * xattrs, so only DAC, a read-only mount or seccomp can stop these.
 */
static int attempt_chmod_file(int argc, char **argv) {
  if (argc != 1) return -1;
  if (chmod(argv[0], 0600) != 0) return denied(errno);
  return allowed(NULL);
}

static int attempt_utime_file(int argc, char **argv) {
  if (argc != 1) return -1;
  const struct timespec epoch[2] = {{0, 0}, {0, 0}};
  if (utimensat(AT_FDCWD, argv[0], epoch, 0) != 0) return denied(errno);
  return allowed(NULL);
}

static int attempt_setxattr_file(int argc, char **argv) {
  if (argc != 1) return -1;
  static const char value[] = "hatchery-probe";
  if (syscall(SYS_setxattr, argv[0], "user.hatchery-probe", value, sizeof value - 1, 0L) != 0) return denied(errno);
  return allowed(NULL);
}

/* A pathname unix socket the host listens on: connect() is not an open(). */
static int attempt_unix_connect(int argc, char **argv) {
  if (argc != 1) return -1;
  struct sockaddr_un addr;
  size_t len = strlen(argv[0]);
  if (len == 0 || len + 1 > sizeof addr.sun_path) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, argv[0], len + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return denied(errno); /* no unix socket of its own: refused before any path lookup */
  int rc = connect(fd, (struct sockaddr *)&addr, (socklen_t)sizeof addr);
  int err = errno;
  close(fd);
  return rc == 0 ? allowed(NULL) : denied(err);
}

static int unix_path(const char *path, struct sockaddr_un *addr) {
  size_t len = strlen(path);
  if (len == 0 || len + 1 > sizeof addr->sun_path) return -EINVAL;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  memcpy(addr->sun_path, path, len + 1);
  return 0;
}

/* One datagram carrying fd 1 (SCM_RIGHTS): what a host syslog/journal/notify socket would receive. */
static ssize_t send_with_fd(int fd, const struct sockaddr_un *to) {
  static const char msg[] = "hatchery-probe";
  struct iovec iov = {(void *)msg, sizeof msg - 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr mh = {0};
  if (to != NULL) {
    mh.msg_name = (void *)to;
    mh.msg_namelen = sizeof *to;
  }
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.buf;
  mh.msg_controllen = sizeof control.buf;
  struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  int passed = 1;
  memcpy(CMSG_DATA(c), &passed, sizeof passed);
  return sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* A datagram (with an fd) to a host socket path, from a socket of the program's own. */
static int attempt_unix_dgram_send(int argc, char **argv) {
  struct sockaddr_un addr;
  if (argc != 1 || unix_path(argv[0], &addr) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return denied(errno);
  ssize_t n = send_with_fd(fd, &addr);
  int err = errno;
  close(fd);
  return n >= 0 ? allowed(NULL) : denied(err);
}

/*
 * The socketpair route to a host socket: a pair is already connected, but a
 * datagram socket may be connect()ed again. Connect one end to PATH; if that
 * works, send a datagram with an fd to it.
 */
static int attempt_socketpair_reach(int argc, char **argv) {
  struct sockaddr_un addr;
  if (argc != 2 || unix_path(argv[1], &addr) != 0) return -1;
  int type;
  if (strcmp(argv[0], "stream") == 0) type = SOCK_STREAM;
  else if (strcmp(argv[0], "seqpacket") == 0) type = SOCK_SEQPACKET;
  else if (strcmp(argv[0], "dgram") == 0) type = SOCK_DGRAM;
  else return -1;
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) != 0) return denied(errno);
  int rc = connect(sv[0], (struct sockaddr *)&addr, (socklen_t)sizeof addr);
  int err = errno;
  if (rc == 0 && send_with_fd(sv[0], NULL) < 0) rc = -1, err = errno;
  close(sv[0]);
  close(sv[1]);
  return rc == 0 ? allowed(NULL) : denied(err);
}

/*
 * Host-side fixture, not an attempt: a datagram socket at PATH (mode 0777)
 * that says "ready", then reports the first datagram within SECONDS:
 * "received N bytes K fds", or "nothing".
 */
static int attempt_unix_dgram_listen(int argc, char **argv) {
  struct sockaddr_un addr;
  long seconds;
  if (argc != 2 || unix_path(argv[0], &addr) != 0 || parse_long(argv[1], 1, 3600, &seconds) != 0) return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return setup_failed("socket", errno);
  unlink(argv[0]);
  if (bind(fd, (struct sockaddr *)&addr, (socklen_t)sizeof addr) != 0) return setup_failed("bind", errno);
  if (chmod(argv[0], 0777) != 0) return setup_failed("chmod", errno);
  printf("ready\n");
  fflush(stdout);
  struct pollfd p = {.fd = fd, .events = POLLIN};
  if (poll(&p, 1, (int)seconds * 1000) <= 0) {
    printf("nothing\n");
    return 0;
  }
  union {
    char buf[CMSG_SPACE(sizeof(int) * 8)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {io_buf, sizeof io_buf};
  struct msghdr mh = {0};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control.buf;
  mh.msg_controllen = sizeof control.buf;
  ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
  if (n < 0) return setup_failed("recvmsg", errno);
  int fds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    for (int i = 0; i < count; i++) {
      int received;
      memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof received);
      close(received);
      fds++;
    }
  }
  printf("received %zd bytes %d fds\n", n, fds);
  unlink(argv[0]);
  return 0;
}

/* Whether a file (e.g. /proc/net/unix) mentions NEEDLE: "found", "absent", or the open/read denial. */
static int attempt_file_contains(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '\0') return -1;
  int fd = open(argv[0], O_RDONLY | O_CLOEXEC);
  if (fd < 0) return denied(errno);
  /* Read it whole (proc files come in pages), keeping a tail so a match across reads is not missed. */
  size_t needle = strlen(argv[1]);
  if (needle >= sizeof io_buf / 2) return -1;
  size_t have = 0;
  int found = 0;
  for (;;) {
    ssize_t n = read(fd, io_buf + have, sizeof io_buf - 1 - have);
    if (n < 0) {
      int err = errno;
      close(fd);
      return denied(err);
    }
    if (n == 0) break;
    have += (size_t)n;
    io_buf[have] = '\0';
    if (memmem(io_buf, have, argv[1], needle) != NULL) {
      found = 1;
      break;
    }
    if (have > needle) {
      memmove(io_buf, io_buf + have - needle, needle);
      have = needle;
    }
  }
  close(fd);
  printf(found ? "found\n" : "absent\n");
  return 0;
}

/* -------------------------------------------------------------- network */

static int parse_port(const char *s, struct sockaddr_in *addr) {
  long port;
  if (parse_long(s, 0, 65535, &port) != 0) return -EINVAL;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)port);
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return 0;
}

static int attempt_tcp_connect(int argc, char **argv) {
  struct sockaddr_in addr;
  if (argc != 1 || parse_port(argv[0], &addr) != 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return denied(errno);
  int rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  int err = errno;
  close(fd);
  return rc == 0 ? allowed(NULL) : denied(err);
}

static int attempt_tcp_bind(int argc, char **argv) {
  struct sockaddr_in addr;
  if (argc != 1 || parse_port(argv[0], &addr) != 0) return -1;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return denied(errno);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  if (rc == 0) rc = listen(fd, 1);
  int err = errno;
  close(fd);
  return rc == 0 ? allowed(NULL) : denied(err);
}

static int attempt_udp_send(int argc, char **argv) {
  struct sockaddr_in addr;
  if (argc != 1 || parse_port(argv[0], &addr) != 0) return -1;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return denied(errno);
  static const char msg[] = "hatchery-probe";
  ssize_t n = sendto(fd, msg, sizeof msg - 1, 0, (struct sockaddr *)&addr, sizeof addr);
  int err = errno;
  close(fd);
  return n >= 0 ? allowed(NULL) : denied(err);
}

static int attempt_raw_socket(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return denied(errno);
  close(fd);
  return allowed(NULL);
}

static int attempt_packet_socket(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return denied(errno);
  close(fd);
  return allowed(NULL);
}

static int connect_abstract(const struct sockaddr_un *addr, socklen_t len) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int rc = connect(fd, (const struct sockaddr *)addr, len) == 0 ? 0 : -errno;
  close(fd);
  return rc;
}

/*
 * Abstract names are length-delimited, and listeners disagree on the length:
 * libuv (Node) binds the whole zero-padded sun_path, most C code only the
 * name. Try both; a name that exists answers with something other than
 * ECONNREFUSED.
 */
static int attempt_abstract_connect(int argc, char **argv) {
  if (argc != 1) return -1;
  struct sockaddr_un addr;
  size_t name_len = strlen(argv[0]);
  if (name_len == 0 || name_len + 1 > sizeof addr.sun_path) return -1;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path + 1, argv[0], name_len); /* sun_path[0] == '\0': abstract */
  int rc = connect_abstract(&addr, (socklen_t)sizeof addr);
  if (rc == -ECONNREFUSED)
    rc = connect_abstract(&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + name_len));
  return rc == 0 ? allowed(NULL) : denied(-rc);
}

/* ------------------------------------------------------------ processes */

static int parse_pid(const char *s, pid_t *pid) {
  long v;
  if (parse_long(s, 1, INT_MAX, &v) != 0) return -EINVAL;
  *pid = (pid_t)v;
  return 0;
}

static int attempt_kill_pid(int argc, char **argv) {
  pid_t pid;
  if (argc != 1 || parse_pid(argv[0], &pid) != 0) return -1;
  if (kill(pid, SIGTERM) != 0) return denied(errno);
  return allowed(NULL);
}

static int attempt_ptrace_pid(int argc, char **argv) {
  pid_t pid;
  if (argc != 1 || parse_pid(argv[0], &pid) != 0) return -1;
  /* PTRACE_SEIZE (0x4206) does not stop the tracee, so a success harms nothing. */
  if (syscall(SYS_ptrace, 0x4206L, (long)pid, 0L, 0L) != 0) return denied(errno);
  syscall(SYS_ptrace, 17L /* PTRACE_DETACH */, (long)pid, 0L, 0L);
  return allowed(NULL);
}

/*
 * Reach into another process's memory three ways: /proc/PID/mem opened (for
 * reading: /proc is read-only in the sandbox, and opening it at all takes
 * ptrace access), process_vm_writev and PTRACE_SEIZE. Prints one word per way
 * ("mem:EACCES vm:EPERM ptrace:EPERM"), "allowed" for a way that worked.
 * The sandbox's init shares the zygote's memory, so every way must fail.
 */
static int attempt_write_memory(int argc, char **argv) {
  pid_t pid;
  if (argc != 1 || parse_pid(argv[0], &pid) != 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int mem_err = fd < 0 ? errno : 0;
  if (fd >= 0) close(fd);
  char byte = 0;
  struct iovec local = {.iov_base = &byte, .iov_len = 1};
  /* An address that is mapped in every process of this kind: our own stack's page is not theirs, so use none: EFAULT still proves access. */
  struct iovec remote = {.iov_base = (void *)0x10000, .iov_len = 1};
  long vm = syscall(SYS_process_vm_writev, (long)pid, &local, 1L, &remote, 1L, 0L);
  int vm_err = vm < 0 && errno != EFAULT ? errno : 0;
  int ptrace_err = 0;
  if (syscall(SYS_ptrace, 0x4206L, (long)pid, 0L, 0L) != 0) ptrace_err = errno;
  else syscall(SYS_ptrace, 17L /* PTRACE_DETACH */, (long)pid, 0L, 0L);
  printf("mem:%s vm:%s ptrace:%s\n", mem_err ? errno_name(mem_err) : "allowed", vm_err ? errno_name(vm_err) : "allowed",
         ptrace_err ? errno_name(ptrace_err) : "allowed");
  return 0;
}

/*
 * Change another process's limits and priority, five ways, each to the value
 * it already has (read first), so a success harms nothing: prlimit64 of
 * RLIMIT_CORE, setpriority of the process and of every process of our uid
 * (PRIO_USER), sched_setscheduler and ioprio_set. The kernel asks only for
 * the same uid, and Landlock's scopes do not cover these. Prints one word per
 * way ("prlimit:EPERM nice:EPERM nice-user:EPERM sched:EPERM ioprio:EPERM"),
 * "allowed" for a way that worked; then the same on ourselves (pid 0), which
 * must keep working: "self:ok" or "self:<way>-ENAME".
 */
static int attempt_reach_process(int argc, char **argv) {
  pid_t pid;
  if (argc != 1 || parse_pid(argv[0], &pid) != 0) return -1;
  const char *way[5];
  int err[5] = {0};
  int self_err = 0;
  const char *self_way = "ok";
  for (int round = 0; round < 2; round++) {
    pid_t target = round == 0 ? pid : 0;
    int e[5] = {0};
    struct rlimit lim;
    if (syscall(SYS_prlimit64, (long)target, (long)RLIMIT_CORE, 0L, (long)&lim) != 0 ||
        syscall(SYS_prlimit64, (long)target, (long)RLIMIT_CORE, (long)&lim, 0L) != 0)
      e[0] = errno;
    errno = 0;
    int prio = getpriority(PRIO_PROCESS, (id_t)target);
    if ((prio == -1 && errno != 0) || setpriority(PRIO_PROCESS, (id_t)target, prio) != 0) e[1] = errno;
    errno = 0;
    int user_prio = getpriority(PRIO_USER, 0);
    if (round == 0 && ((user_prio == -1 && errno != 0) || setpriority(PRIO_USER, 0, user_prio) != 0)) e[2] = errno;
    struct sched_param param;
    int policy = (int)syscall(SYS_sched_getscheduler, (long)target);
    if (policy < 0 || syscall(SYS_sched_getparam, (long)target, (long)&param) != 0 ||
        syscall(SYS_sched_setscheduler, (long)target, (long)policy, (long)&param) != 0)
      e[3] = errno;
    long ioprio = syscall(SYS_ioprio_get, 1L /* IOPRIO_WHO_PROCESS */, (long)target);
    if (ioprio < 0 || syscall(SYS_ioprio_set, 1L, (long)target, ioprio) != 0) e[4] = errno;
    if (round == 0) {
      static const char *names[5] = {"prlimit", "nice", "nice-user", "sched", "ioprio"};
      for (int i = 0; i < 5; i++) way[i] = names[i], err[i] = e[i];
    } else {
      static const char *names[5] = {"prlimit", "nice", "nice-user", "sched", "ioprio"};
      for (int i = 0; i < 5 && self_err == 0; i++)
        if (e[i] != 0) self_err = e[i], self_way = names[i];
    }
  }
  for (int i = 0; i < 5; i++) printf("%s%s:%s", i ? " " : "", way[i], err[i] ? errno_name(err[i]) : "allowed");
  if (self_err) printf(" self:%s-%s\n", self_way, errno_name(self_err));
  else printf(" self:ok\n");
  return 0;
}

/* A UDP datagram to ourselves over 127.0.0.1: works only where lo is up. */
static int attempt_loopback_echo(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return denied(errno);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  char got = 0;
  int err = 0;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || getsockname(s, (struct sockaddr *)&a, &len) != 0 ||
      sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof a) != 1 || recv(s, &got, 1, MSG_DONTWAIT) != 1)
    err = errno;
  close(s);
  return err ? denied(err) : allowed(NULL);
}

/* SIOCSIFFLAGS on lo: taking the loopback interface down. */
static int attempt_loopback_down(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return denied(errno);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, "lo", 3);
  int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  int err = errno;
  close(s);
  return rc != 0 ? denied(err) : allowed(NULL);
}

/* On success prints the environment (NULs as spaces) so a test can tell whose it was. */
static int attempt_proc_environ(int argc, char **argv) {
  pid_t pid;
  if (argc != 1 || parse_pid(argv[0], &pid) != 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return denied(errno);
  ssize_t n = read(fd, io_buf, 1024);
  int err = errno;
  close(fd);
  if (n < 0) return denied(err);
  for (ssize_t i = 0; i < n; i++)
    if (io_buf[i] == '\0' || io_buf[i] == '\n') io_buf[i] = ' ';
  io_buf[n] = '\0';
  printf("allowed %s\n", io_buf);
  return 0;
}

static int attempt_proc_list(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return denied(errno);
  long pids = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, io_buf, sizeof io_buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      unsigned short reclen;
      memcpy(&reclen, io_buf + off + 16, sizeof reclen);
      const char *name = io_buf + off + 19;
      if (name[0] >= '1' && name[0] <= '9' && strspn(name, "0123456789") == strlen(name)) pids++;
      off += reclen;
    }
  }
  close(fd);
  printf("visible %ld\n", pids);
  return 0;
}

/* ------------------------------------------------------- kernel surface */

struct probe_uring_params {
  uint32_t sq_entries, cq_entries, flags, sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3];
  uint32_t sq_off[10];
  uint32_t cq_off[10];
};

static int attempt_io_uring(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  static struct probe_uring_params params;
  long fd = syscall(SYS_io_uring_setup, 4L, &params);
  if (fd < 0) return denied(errno);
  close((int)fd);
  return allowed(NULL);
}

static int attempt_userns(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  if (unshare(CLONE_NEWUSER) != 0) return denied(errno);
  return allowed(NULL);
}

static int attempt_mount(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  static const char dir[] = "probe-mnt";
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) return setup_failed("mkdir", errno);
  if (mount("none", dir, "tmpfs", 0, "size=1m") != 0) return denied(errno);
  umount2(dir, MNT_DETACH);
  return allowed(NULL);
}

static int reap_clone_child(long pid) {
  if (pid == 0) _exit(0);
  if (pid < 0) return denied(errno);
  waitpid((pid_t)pid, NULL, 0);
  return allowed(NULL);
}

/* Raw clone with a namespace flag: libc's clone() wrapper would hide the errno path. */
static int attempt_clone_newns(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  return reap_clone_child(syscall(SYS_clone, (long)(CLONE_NEWNS | SIGCHLD), 0L, 0L, 0L, 0L));
}

static int attempt_clone3(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  static struct clone_args args;
  args.flags = CLONE_NEWNS;
  args.exit_signal = SIGCHLD;
  return reap_clone_child(syscall(SYS_clone3, &args, sizeof args));
}

static int tty_ioctl(int argc, char **argv, unsigned long request) {
  if (argc > 1) return -1;
  int fd = 0;
  if (argc == 1) {
    fd = open(argv[0], O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return setup_failed("open", errno);
  }
  char arg = request == TIOCLINUX ? 2 /* TIOCL_SETSEL */ : ' ';
  int rc = ioctl(fd, request, &arg);
  int err = errno;
  if (fd != 0) close(fd);
  return rc == 0 ? allowed(NULL) : denied(err);
}

static int attempt_tiocsti(int argc, char **argv) { return tty_ioctl(argc, argv, TIOCSTI); }
static int attempt_tioclinux(int argc, char **argv) { return tty_ioctl(argc, argv, TIOCLINUX); }

/* Terminal ioctls by name: the ones the default filter refuses, and ones programs need. */
static const struct {
  const char *name;
  unsigned long request;
} tty_requests[] = {
    {"TIOCSTI", TIOCSTI},       {"TIOCLINUX", TIOCLINUX},     {"TIOCEXCL", TIOCEXCL},
    {"TIOCNXCL", TIOCNXCL},     {"TIOCSCTTY", TIOCSCTTY},     {"TIOCCONS", TIOCCONS},
    {"TIOCSETD", TIOCSETD},     {"TIOCVHANGUP", TIOCVHANGUP}, {"TIOCSWINSZ", TIOCSWINSZ},
    {"TCXONC", TCXONC},         {"TIOCSLCKTRMIOS", TIOCSLCKTRMIOS}, {"TIOCSIG", TIOCSIG},
    {"TIOCSSERIAL", TIOCSSERIAL}, {"TIOCMSET", TIOCMSET},     {"TIOCMBIS", TIOCMBIS},
    {"TIOCMBIC", TIOCMBIC},     {"TIOCSSOFTCAR", TIOCSSOFTCAR}, {"TIOCSBRK", TIOCSBRK},
    {"TIOCCBRK", TIOCCBRK},
    /* allowed */
    {"TCGETS", TCGETS},         {"TCSETS", TCSETS},           {"TIOCGWINSZ", TIOCGWINSZ},
    {"TCFLSH", TCFLSH},         {"TCSBRK", TCSBRK},           {"TIOCSPGRP", TIOCSPGRP},
    {"TIOCNOTTY", TIOCNOTTY},   {"TIOCGPGRP", TIOCGPGRP},     {"FIONREAD", FIONREAD},
};

static int tty_request(const char *name, unsigned long *request) {
  for (size_t i = 0; i < sizeof tty_requests / sizeof tty_requests[0]; i++) {
    if (strcmp(tty_requests[i].name, name) == 0) {
      *request = tty_requests[i].request;
      return 0;
    }
  }
  return -EINVAL;
}

/* On fd -1: a filter that checks the request answers before the kernel's EBADF could. */
static int attempt_ioctl_bad_fd(int argc, char **argv) {
  unsigned long request;
  if (argc != 1 || tty_request(argv[0], &request) != 0) return -1;
  static char arg[256];
  if (ioctl(-1, request, arg) == 0) return allowed(NULL);
  return denied(errno);
}

/*
 * One terminal ioctl on fd 0, which the test makes a real terminal the probe
 * inherited (with-pty). Arguments that change nothing lasting where possible:
 * state set is put back, so a control run leaves the terminal as it was.
 */
static int attempt_tty(int argc, char **argv) {
  unsigned long request;
  if (argc != 1 || tty_request(argv[0], &request) != 0) return -1;
  if (!isatty(0)) return setup_failed("isatty", errno);
  int rc = 0;
  switch (request) {
    case TCGETS: {
      struct termios t;
      rc = ioctl(0, TCGETS, &t);
      break;
    }
    case TCSETS: { /* raw mode, as an editor or REPL sets it, then back */
      struct termios saved, raw;
      if (ioctl(0, TCGETS, &saved) != 0) return setup_failed("TCGETS", errno);
      raw = saved;
      cfmakeraw(&raw);
      rc = ioctl(0, TCSETS, &raw);
      if (rc == 0) ioctl(0, TCSETS, &saved);
      break;
    }
    case TIOCGWINSZ: {
      struct winsize ws;
      rc = ioctl(0, TIOCGWINSZ, &ws);
      break;
    }
    case TIOCSWINSZ: {
      struct winsize saved, ws;
      if (ioctl(0, TIOCGWINSZ, &saved) != 0) return setup_failed("TIOCGWINSZ", errno);
      ws = saved;
      ws.ws_row = (unsigned short)(saved.ws_row + 1);
      rc = ioctl(0, TIOCSWINSZ, &ws);
      if (rc == 0) ioctl(0, TIOCSWINSZ, &saved);
      break;
    }
    case TIOCEXCL:
      rc = ioctl(0, TIOCEXCL);
      if (rc == 0) ioctl(0, TIOCNXCL);
      break;
    case TIOCSCTTY: /* a session of its own first, as a program stealing the terminal would */
      setsid();
      rc = ioctl(0, TIOCSCTTY, 0);
      break;
    case TIOCSETD: { /* N_TTY: the discipline it has */
      int ldisc = 0;
      rc = ioctl(0, TIOCSETD, &ldisc);
      break;
    }
    case TCXONC: /* TCOON: resume output that is not suspended */
      rc = ioctl(0, TCXONC, TCOON);
      break;
    case TCFLSH:
      rc = ioctl(0, TCFLSH, TCIFLUSH);
      break;
    case TCSBRK: /* tcdrain() */
      rc = ioctl(0, TCSBRK, 1);
      break;
    default: {
      static char arg[256];
      rc = ioctl(0, request, arg);
    }
  }
  return rc == 0 ? allowed(NULL) : denied(errno);
}

/*
 * Harness, not an attempt: run COMMAND with fd 0 a fresh pty slave that is
 * nobody's controlling terminal (a serial line, or a pty a server opened),
 * fds 1 and 2 as they are. Exits with the command's status.
 */
static int attempt_with_pty(int argc, char **argv) {
  if (argc < 1) return -1;
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return setup_failed("posix_openpt", errno);
  if (grantpt(master) != 0 || unlockpt(master) != 0) return setup_failed("unlockpt", errno);
  const char *slave_name = ptsname(master);
  if (slave_name == NULL) return setup_failed("ptsname", errno);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) return setup_failed("fork", errno);
  if (pid == 0) {
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0 || dup2(slave, 0) < 0) _exit(126);
    if (slave != 0) close(slave);
    execvp(argv[0], argv);
    _exit(127);
  }
  int status = 0;
  for (;;) {
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return setup_failed("waitpid", errno);
    struct pollfd p = {.fd = master, .events = POLLIN};
    if (poll(&p, 1, 50) > 0 && (p.revents & POLLIN)) (void)read(master, io_buf, sizeof io_buf);
  }
  close(master);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

/*
 * Leave the process group hatchery ends the tree by: a forked child (the
 * program itself may be a session leader already) calls setsid() or
 * setpgid(0, 0). "allowed" means it left.
 */
static int attempt_leave_group(int argc, char **argv) {
  if (argc != 1) return -1;
  int use_setsid;
  if (strcmp(argv[0], "setsid") == 0) use_setsid = 1;
  else if (strcmp(argv[0], "setpgid") == 0) use_setsid = 0;
  else return -1;
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return setup_failed("pipe", errno);
  pid_t before = getpgrp();
  pid_t pid = fork();
  if (pid < 0) return setup_failed("fork", errno);
  if (pid == 0) {
    int err = 0;
    if ((use_setsid ? setsid() : setpgid(0, 0)) < 0) err = errno;
    else if (getpgrp() == before) err = -1;
    (void)write(pipefd[1], &err, sizeof err);
    _exit(0);
  }
  close(pipefd[1]);
  int err = -2;
  ssize_t n = read(pipefd[0], &err, sizeof err);
  close(pipefd[0]);
  waitpid(pid, NULL, 0);
  if (n != (ssize_t)sizeof err) return setup_failed("child", EIO);
  if (err == -1) return setup_failed("same-group", EINVAL);
  return err == 0 ? allowed(NULL) : denied(err);
}

/*
 * Make an IPC object and leave it: a System V shared memory segment (64 KiB,
 * touched), semaphore set or message queue with KEY, or a POSIX message
 * queue named /KEY. The test looks on the host for what outlived the
 * operation. Raw syscalls: glibc's mq_open would need -lrt on older systems.
 */
static int attempt_host_ipc(int argc, char **argv) {
  long key;
  if (argc != 2 || parse_long(argv[1], 1, INT_MAX, &key) != 0) return -1;
  long rc;
  if (strcmp(argv[0], "shm") == 0) {
    rc = syscall(SYS_shmget, key, 65536L, (long)(IPC_CREAT | 0600));
    if (rc >= 0) {
      void *at = (void *)syscall(SYS_shmat, rc, 0L, 0L);
      if (at == (void *)-1) return denied(errno);
      memset(at, 0x5a, 65536);
      (void)syscall(SYS_shmdt, at);
    }
  } else if (strcmp(argv[0], "sem") == 0) {
    rc = syscall(SYS_semget, key, 1L, (long)(IPC_CREAT | 0600));
  } else if (strcmp(argv[0], "msg") == 0) {
    rc = syscall(SYS_msgget, key, (long)(IPC_CREAT | 0600));
  } else if (strcmp(argv[0], "mq") == 0) {
    char name[32];
    snprintf(name, sizeof name, "/%ld", key);
    rc = syscall(SYS_mq_open, name, (long)(O_RDWR | O_CREAT | O_CLOEXEC), 0600L, 0L);
  } else {
    return -1;
  }
  return rc < 0 ? denied(errno) : allowed(NULL);
}

/*
 * Go after whoever comes to end this operation's processes: a grandchild in
 * a session of its own kills the probe (so the operation ends at once) and
 * then sends SIGNAL (a number) to every process it may signal, kill(-1),
 * over and over for SECONDS, to reach the helper that kills the operation's
 * uid in its first moments. Prints nothing: the test looks at what is left.
 */
static int attempt_stop_killer(int argc, char **argv) {
  long sig, seconds;
  if (argc != 2 || parse_long(argv[0], 1, 64, &sig) != 0 || parse_long(argv[1], 1, 60, &seconds) != 0) return -1;
  pid_t probe = getpid();
  pid_t pid = fork();
  if (pid < 0) return setup_failed("fork", errno);
  if (pid == 0) {
    if (setsid() < 0) _exit(1);
    pid_t grandchild = fork();
    if (grandchild != 0) _exit(grandchild < 0);
    double deadline = now_seconds() + (double)seconds;
    (void)kill(probe, SIGKILL);
    while (now_seconds() < deadline) (void)kill(-1, (int)sig);
    _exit(0);
  }
  for (;;) pause();
}

/*
 * Kernel check of the sandbox init's filter (compileInitSeccomp), run
 * unsandboxed: install HEX (struct sock_filter[] bytes) after forking a child,
 * as the init does after cloning the program, then make the init's calls in
 * its order: write, rt_sigaction for every signal, close_range, kill,
 * sigwaitinfo, waitpid, _exit. With SYSCALL, also try that call after
 * close_range; the filter should kill us there, before "survived".
 * Only raw write(2) once filtered: stdio could allocate.
 */
static void raw_say(const char *text) { (void)write(1, text, strlen(text)); }

static void on_init_signal(int sig) { (void)sig; }

static long forbidden_call(const char *name, int *known) {
  *known = 1;
  if (strcmp(name, "openat") == 0) return syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_CLOEXEC);
  if (strcmp(name, "socket") == 0) return syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (strcmp(name, "execve") == 0) return syscall(SYS_execve, "/nonexistent", NULL, NULL);
  if (strcmp(name, "ptrace") == 0) return syscall(SYS_ptrace, 0x4206L /* PTRACE_SEIZE */, 1L, 0L, 0L);
  if (strcmp(name, "getpid") == 0) return syscall(SYS_getpid);
  if (strcmp(name, "mmap") == 0) return (long)mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (strcmp(name, "read") == 0) return syscall(SYS_read, 0, io_buf, 0);
  *known = 0;
  return -1;
}

static int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

static struct sock_filter init_filter[1024];

static int attempt_init_filter(int argc, char **argv) {
  if (argc < 1 || argc > 2) return -1;
  size_t hex_len = strlen(argv[0]);
  if (hex_len == 0 || hex_len % 16 != 0 || hex_len / 16 > 1024) return -1;
  unsigned char *bytes = (unsigned char *)init_filter;
  for (size_t i = 0; i < hex_len / 2; i++) {
    int hi = hex_nibble(argv[0][2 * i]), lo = hex_nibble(argv[0][2 * i + 1]);
    if (hi < 0 || lo < 0) return -1;
    bytes[i] = (unsigned char)(hi << 4 | lo);
  }
  int known = 1;
  if (argc == 2) {
    static const char *names[] = {"openat", "socket", "execve", "ptrace", "getpid", "mmap", "read"};
    known = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (strcmp(argv[1], names[i]) == 0) known = 1;
    if (!known) return -1;
  }
  struct sock_fprog prog = {.len = (unsigned short)(hex_len / 16), .filter = init_filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return setup_failed("no_new_privs", errno);
  /* As the init: not dumpable, so the filter's kill writes no core file. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return setup_failed("dumpable", errno);
  sigset_t all;
  sigfillset(&all);
  if (sigprocmask(SIG_BLOCK, &all, NULL) != 0) return setup_failed("sigprocmask", errno);
  fflush(stdout);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) return setup_failed("fork", errno);
  if (child == 0) {
    /* The filter may kill the parent on purpose: never outlive it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != parent) _exit(0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (;;) pause();
  }
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) return setup_failed("seccomp", errno);
  raw_say("filtered\n");
  struct sigaction sa = {.sa_handler = on_init_signal, .sa_flags = SA_RESTART};
  sigfillset(&sa.sa_mask);
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    (void)sigaction(sig, &sa, NULL);
  }
  (void)syscall(SYS_close_range, 3u, ~0u, 0);
  if (argc == 2) {
    (void)forbidden_call(argv[1], &known);
    raw_say("survived\n");
  }
  (void)kill(child, SIGTERM);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig != SIGCHLD) continue;
    int status;
    if (waitpid(-1, &status, WNOHANG) == child) {
      char line[48];
      size_t n = 0;
      static const char prefix[] = "reaped signal ";
      memcpy(line, prefix, sizeof prefix - 1);
      n = sizeof prefix - 1;
      int term = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      if (term >= 10) line[n++] = (char)('0' + term / 10);
      line[n++] = (char)('0' + term % 10);
      line[n++] = '\n';
      (void)write(1, line, n);
      _exit(0);
    }
  }
}

/*
 * Syscalls the default filter denies whose unsandboxed outcome for an
 * unprivileged process is NOT EPERM, so "denied EPERM" proves the filter.
 */
static long call_listed_syscall(const char *name, int *known) {
  *known = 1;
  if (strcmp(name, "personality") == 0) {
    long old = syscall(SYS_personality, 0xffffffffL);
    long rc = syscall(SYS_personality, (long)PROBE_ADDR_NO_RANDOMIZE);
    if (rc >= 0 && old >= 0) syscall(SYS_personality, old);
    return rc;
  }
  if (strcmp(name, "userfaultfd") == 0) {
    long fd = syscall(SYS_userfaultfd, (long)(O_CLOEXEC | UFFD_USER_MODE_ONLY));
    if (fd >= 0) close((int)fd);
    return fd;
  }
  if (strcmp(name, "perf_event_open") == 0) {
    static struct perf_event_attr attr;
    attr.type = PERF_TYPE_SOFTWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_SW_TASK_CLOCK;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    long fd = syscall(SYS_perf_event_open, &attr, 0L, -1L, -1L, (long)PERF_FLAG_FD_CLOEXEC);
    if (fd >= 0) close((int)fd);
    return fd;
  }
  if (strcmp(name, "process_vm_readv") == 0) {
    static char src[8] = "secret", dst[8];
    struct iovec local = {dst, sizeof dst}, remote = {src, sizeof src};
    return syscall(SYS_process_vm_readv, (long)getpid(), &local, 1L, &remote, 1L, 0L);
  }
  if (strcmp(name, "keyctl") == 0)
    return syscall(SYS_keyctl, (long)PROBE_KEYCTL_GET_KEYRING_ID, (long)PROBE_KEY_SPEC_SESSION_KEYRING, 0L);
  if (strcmp(name, "setns") == 0) return syscall(SYS_setns, -1L, 0L); /* EBADF unless filtered */
  /* On the probe itself, so each succeeds (or fails other than EPERM) unless filtered. */
  if (strcmp(name, "pidfd_getfd") == 0) {
    long pidfd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
    if (pidfd < 0) return pidfd;
    long fd = syscall(SYS_pidfd_getfd, pidfd, 1L, 0L);
    int err = errno;
    if (fd >= 0) close((int)fd);
    close((int)pidfd);
    errno = err;
    return fd;
  }
  if (strcmp(name, "kcmp") == 0)
    return syscall(SYS_kcmp, (long)getpid(), (long)getpid(), (long)PROBE_KCMP_FILE, 1L, 1L);
  if (strcmp(name, "process_madvise") == 0) {
    long pidfd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
    if (pidfd < 0) return pidfd;
    struct iovec iov = {(void *)(((uintptr_t)io_buf + 4095) & ~(uintptr_t)4095), 4096}; /* a whole page */
    long rc = syscall(SYS_process_madvise, pidfd, &iov, 1L, (long)PROBE_MADV_COLD, 0L);
    int err = errno;
    close((int)pidfd);
    errno = err;
    return rc;
  }
  if (strcmp(name, "process_mrelease") == 0) { /* EINVAL unless filtered: we are not dying */
    long pidfd = syscall(SYS_pidfd_open, (long)getpid(), 0L);
    if (pidfd < 0) return pidfd;
    long rc = syscall(SYS_process_mrelease, pidfd, 0L);
    int err = errno;
    close((int)pidfd);
    errno = err;
    return rc;
  }
  if (strcmp(name, "migrate_pages") == 0) {
    unsigned long nodes = 1; /* node 0 to node 0 */
    return syscall(SYS_migrate_pages, 0L, 8L * sizeof nodes, &nodes, &nodes);
  }
  if (strcmp(name, "move_pages") == 0) { /* query where one page of ours lives */
    void *page = io_buf;
    int status = 0;
    return syscall(SYS_move_pages, 0L, 1L, &page, NULL, &status, 0L);
  }
  if (strcmp(name, "fanotify_init") == 0) {
    long fd = syscall(SYS_fanotify_init, (long)(PROBE_FAN_CLASS_NOTIF | PROBE_FAN_REPORT_FID), (long)O_RDONLY);
    if (fd >= 0) close((int)fd);
    return fd;
  }
  if (strcmp(name, "bpf") == 0) return syscall(SYS_bpf, -1L, 0L, 0L);  /* EINVAL/EPERM unless filtered */
  *known = 0;
  return -1;
}

static int attempt_syscall(int argc, char **argv) {
  if (argc != 1) return -1;
  int known;
  errno = 0;
  long rc = call_listed_syscall(argv[0], &known);
  if (!known) return -1;
  return rc < 0 ? denied(errno) : allowed(NULL);
}

/* ---------------------------------------------------------- exhaustion */

#define FORK_BOMB_MAX 100000
static pid_t bomb_children[FORK_BOMB_MAX];

/*
 * Linear, not exponential: one parent forks sleepers until fork fails, the cap
 * is reached, or 3 s pass. "hold" keeps them and waits to be killed (to test
 * that the sandbox's end takes the whole tree); otherwise it kills and reaps
 * them and reports.
 */
static int attempt_fork_bomb(int argc, char **argv) {
  long max = FORK_BOMB_MAX;
  int hold = 0;
  if (argc >= 1 && parse_long(argv[0], 1, FORK_BOMB_MAX, &max) != 0) return -1;
  if (argc == 2) {
    if (strcmp(argv[1], "hold") != 0) return -1;
    hold = 1;
  }
  if (argc > 2) return -1;
  long forks = 0;
  int first_err = 0;
  double deadline = now_seconds() + 3.0;
  while (forks < max) {
    pid_t pid = fork();
    if (pid == 0) {
      /* Without a pid namespace nothing else would end a sleeper whose parent died. */
      prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
      for (;;) pause();
    }
    if (pid < 0) {
      first_err = errno;
      break;
    }
    bomb_children[forks++] = pid;
    if ((forks & 63) == 0 && now_seconds() > deadline) break;
  }
  if (hold) {
    printf("holding %ld forks\n", forks);
    fflush(stdout);
    for (;;) pause();
  }
  for (long i = 0; i < forks; i++) kill(bomb_children[i], SIGKILL);
  for (long i = 0; i < forks; i++) waitpid(bomb_children[i], NULL, 0);
  if (first_err != 0) {
    printf("denied %s after %ld forks\n", errno_name(first_err), forks);
  } else {
    printf("allowed %ld forks\n", forks);
  }
  return 0;
}

static int attempt_memory_bomb(int argc, char **argv) {
  long cap_bytes;
  if (argc != 1 || parse_long(argv[0], 1, LONG_MAX, &cap_bytes) != 0) return -1;
  const size_t chunk = 1 << 20;
  long mib = 0;
  while ((long)((mib + 1) * (long)chunk) <= cap_bytes) {
    /* mmap, not malloc: the errno is the kernel's, and no arena hides it. */
    void *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      printf("denied %s after %ld MiB\n", errno_name(errno), mib);
      return 0;
    }
    memset(p, 0xa5, chunk);
    mib++;
  }
  printf("allowed %ld MiB\n", mib);
  return 0;
}

static int attempt_cpu_spin(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  printf("spinning\n");
  fflush(stdout);
  volatile unsigned long counter = 0;
  for (;;) counter++;
}

/* "signal": keep SIGXFSZ's default action, so the limit kills instead of failing the write. */
static int attempt_fill_disk(int argc, char **argv) {
  long cap_bytes;
  if (argc < 1 || argc > 2 || parse_long(argv[0], 1, LONG_MAX, &cap_bytes) != 0) return -1;
  if (argc == 2 && strcmp(argv[1], "signal") != 0) return -1;
  if (argc == 1) signal(SIGXFSZ, SIG_IGN);
  int fd = open("probe-fill", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return setup_failed("open", errno);
  memset(io_buf, 'x', sizeof io_buf);
  long written = 0;
  while (written < cap_bytes) {
    size_t want = sizeof io_buf;
    if ((long)want > cap_bytes - written) want = (size_t)(cap_bytes - written);
    ssize_t n = write(fd, io_buf, want);
    if (n < 0) {
      int err = errno;
      close(fd);
      unlink("probe-fill");
      printf("denied %s after %ld bytes\n", errno_name(err), written);
      return 0;
    }
    written += n;
  }
  close(fd);
  unlink("probe-fill");
  printf("allowed %ld bytes\n", written);
  return 0;
}

static int attempt_fd_exhaust(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  long opened = 0;
  for (;;) {
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      printf("denied %s after %ld fds\n", errno_name(errno), opened);
      return 0;
    }
    /* Stop before the kernel's own ceiling could make this slow. */
    if (++opened >= 1 << 20) break;
  }
  printf("allowed %ld fds\n", opened);
  return 0;
}

/* ------------------------------------------------- network namespace */

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* A small /proc file, whole, into io_buf (NUL-terminated): its length, or -1. */
static ssize_t read_small_file(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t have = 0;
  ssize_t n;
  while (have < sizeof io_buf - 1 && (n = read(fd, io_buf + have, sizeof io_buf - 1 - have)) > 0) have += (size_t)n;
  close(fd);
  io_buf[have] = '\0';
  return have == sizeof io_buf - 1 ? -1 : (ssize_t)have;
}

/*
 * The network namespace as the program finds it, read before it makes a
 * socket of its own: its cookie (never reused, unlike the inode number),
 * the sockets in use in it, /proc/net/unix's lines past its header, and lo's
 * received and sent packets. Then it holds a socketpair open for SECONDS.
 */
static int attempt_netns_state(int argc, char **argv) {
  long hold = 0;
  if (argc > 1 || (argc == 1 && parse_long(argv[0], 0, 60, &hold) != 0)) return -1;
  long used = -1, unix_sockets = -1, rx = -1, tx = -1;
  const char *at;
  if (read_small_file("/proc/net/sockstat") >= 0 && (at = strstr(io_buf, "sockets: used ")) != NULL)
    used = strtol(at + strlen("sockets: used "), NULL, 10);
  if (read_small_file("/proc/net/unix") >= 0) {
    unix_sockets = -1; /* the header line */
    for (at = io_buf; *at; at++) unix_sockets += *at == '\n';
  }
  /* lo: bytes packets errs drop fifo frame compressed multicast | bytes packets ... */
  if (read_small_file("/proc/net/dev") >= 0 && (at = strstr(io_buf, "lo:")) != NULL) {
    char *p = (char *)at + 3;
    long fields[10];
    for (int i = 0; i < 10; i++) fields[i] = strtol(p, &p, 10);
    rx = fields[1];
    tx = fields[9];
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return denied(errno);
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  int rc = getsockopt(sv[0], SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int err = errno;
  if (rc != 0) {
    close(sv[0]);
    close(sv[1]);
    return denied(err);
  }
  printf("netns cookie=%llu sockets=%ld unix=%ld lo=%ld,%ld\n", (unsigned long long)cookie, used, unix_sockets, rx, tx);
  fflush(stdout);
  struct timespec ts = {.tv_sec = hold, .tv_nsec = 0};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
  close(sv[0]);
  close(sv[1]);
  return 0;
}

/*
 * A socketpair whose one end is sent through itself (SCM_RIGHTS) and then
 * closed: nothing but its own queue holds it, so it outlives the program
 * until the kernel's unix garbage collector finds the cycle.
 */
static int attempt_pair_in_flight(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return denied(errno);
  char byte = 'x';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &sv[1], sizeof(int));
  ssize_t n = sendmsg(sv[0], &msg, 0); /* sv[1] travels to sv[1]'s own queue */
  int err = errno;
  close(sv[0]);
  close(sv[1]);
  return n == 1 ? allowed("in flight") : denied(err);
}

/* ------------------------------------------------------------- identity */

static int attempt_whoami(int argc, char **argv) {
  (void)argv;
  if (argc != 0) return -1;
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  getresuid(&ruid, &euid, &suid);
  getresgid(&rgid, &egid, &sgid);
  static gid_t groups[256];
  int ngroups = getgroups(256, groups);

  /* capget rather than /proc/self/status: /proc may be out of reach. */
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  unsigned long long eff = 0, prm = 0;
  if (syscall(SYS_capget, &hdr, data) == 0) {
    eff = (unsigned long long)data[0].effective | (unsigned long long)data[1].effective << 32;
    prm = (unsigned long long)data[0].permitted | (unsigned long long)data[1].permitted << 32;
  }

  printf("uid=%u euid=%u suid=%u gid=%u egid=%u sgid=%u groups=", ruid, euid, suid, rgid, egid, sgid);
  if (ngroups <= 0) printf("-");
  for (int i = 0; i < ngroups; i++) printf(i ? ",%u" : "%u", groups[i]);
  printf(" capeff=%016llx capprm=%016llx pid=%d nnp=%d seccomp=%d\n", eff, prm, (int)getpid(),
         prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
  return 0;
}

/* ---------------------------------------------------------------- main */

static const struct {
  const char *name;
  const char *usage;
  int (*run)(int argc, char **argv);
} attempts[] = {
    {"read-file", "PATH", attempt_read_file},
    {"write-file", "PATH", attempt_write_file},
    {"list-dir", "PATH", attempt_list_dir},
    {"symlink-escape", "TARGET", attempt_symlink_escape},
    {"hardlink-escape", "TARGET", attempt_hardlink_escape},
    {"rename-escape", "SRC DST", attempt_rename_escape},
    {"dotdot-escape", "/ABSOLUTE/TARGET", attempt_dotdot_escape},
    {"exec-file", "PATH [ARGS...]", attempt_exec_file},
    {"chmod-file", "PATH", attempt_chmod_file},
    {"utime-file", "PATH", attempt_utime_file},
    {"setxattr-file", "PATH", attempt_setxattr_file},
    {"tcp-connect", "PORT", attempt_tcp_connect},
    {"tcp-bind", "PORT", attempt_tcp_bind},
    {"udp-send", "PORT", attempt_udp_send},
    {"raw-socket", "", attempt_raw_socket},
    {"packet-socket", "", attempt_packet_socket},
    {"abstract-connect", "NAME", attempt_abstract_connect},
    {"unix-connect", "PATH", attempt_unix_connect},
    {"kill-pid", "PID", attempt_kill_pid},
    {"ptrace-pid", "PID", attempt_ptrace_pid},
    {"write-memory", "PID", attempt_write_memory},
    {"reach-process", "PID", attempt_reach_process},
    {"loopback-echo", "", attempt_loopback_echo},
    {"loopback-down", "", attempt_loopback_down},
    {"netns-state", "[HOLD_SECONDS]", attempt_netns_state},
    {"pair-in-flight", "", attempt_pair_in_flight},
    {"proc-environ", "PID", attempt_proc_environ},
    {"proc-list", "", attempt_proc_list},
    {"io-uring", "", attempt_io_uring},
    {"userns", "", attempt_userns},
    {"mount", "", attempt_mount},
    {"clone-newns", "", attempt_clone_newns},
    {"clone3", "", attempt_clone3},
    {"tiocsti", "[TTY]", attempt_tiocsti},
    {"tioclinux", "[TTY]", attempt_tioclinux},
    {"syscall",
     "personality|userfaultfd|perf_event_open|process_vm_readv|keyctl|setns|bpf|pidfd_getfd|kcmp|process_madvise|"
     "process_mrelease|migrate_pages|move_pages|fanotify_init",
     attempt_syscall},
    {"ioctl-bad-fd", "REQUEST", attempt_ioctl_bad_fd},
    {"tty", "REQUEST (on fd 0)", attempt_tty},
    {"with-pty", "COMMAND [ARGS...]", attempt_with_pty},
    {"unix-dgram-send", "PATH", attempt_unix_dgram_send},
    {"socketpair-reach", "stream|seqpacket|dgram PATH", attempt_socketpair_reach},
    {"unix-dgram-listen", "PATH SECONDS", attempt_unix_dgram_listen},
    {"file-contains", "PATH NEEDLE", attempt_file_contains},
    {"leave-group", "setsid|setpgid", attempt_leave_group},
    {"stop-killer", "SIGNAL SECONDS", attempt_stop_killer},
    {"host-ipc", "shm|sem|msg|mq KEY", attempt_host_ipc},
    {"init-filter", "HEX [openat|socket|execve|ptrace|getpid|mmap|read]", attempt_init_filter},
    {"fork-bomb", "[MAX [hold]]", attempt_fork_bomb},
    {"memory-bomb", "BYTES", attempt_memory_bomb},
    {"cpu-spin", "", attempt_cpu_spin},
    {"fill-disk", "BYTES [signal]", attempt_fill_disk},
    {"fd-exhaust", "", attempt_fd_exhaust},
    {"whoami", "", attempt_whoami},
};

static int usage(void) {
  fprintf(stderr, "usage: hatchery-probe <attempt> [args...]\n");
  for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++)
    fprintf(stderr, "  %s %s\n", attempts[i].name, attempts[i].usage);
  return 2;
}

int main(int argc, char **argv) {
  /* Line-buffered even into a pipe, so a killed attempt still shows what it printed. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return usage();
  for (size_t i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
    if (strcmp(argv[1], attempts[i].name) != 0) continue;
    int rc = attempts[i].run(argc - 2, argv + 2);
    if (rc < 0) {
      fprintf(stderr, "usage: hatchery-probe %s %s\n", attempts[i].name, attempts[i].usage);
      return 2;
    }
    return rc;
  }
  fprintf(stderr, "hatchery-probe: unknown attempt \"%s\"\n", argv[1]);
  return usage();
}
