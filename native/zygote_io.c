/*
 * The zygote's control socket (fd CONTROL_FD, SOCK_SEQPACKET): receives a
 * datagram and its fds, checks it, answers HELLO, SIGNAL and PING, hands
 * SPAWN to zygote_spawn.c, and sends every reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
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
#include "util.h"
#include "wire.h"
#include "zygote.h"

/* How long a reply that finds the outbox full waits for the socket before the peer counts as gone. */
#define SEND_TIMEOUT_MS 1000

/* One datagram; the extra byte lets an oversized one show up as such. */
uint8_t rx[HATCH_MAX_MESSAGE + 1] __attribute__((aligned(8)));
uint8_t tx[HATCH_REPLY_MAX] __attribute__((aligned(8)));
uint64_t received_ns;

/* ---- replies ---------------------------------------------------------- */

/*
 * Replies that the socket could not take when they were made: Node's loop
 * may be busy for a while (a long synchronous job), and a burst of short
 * operations finishing meanwhile must neither stall the zygote (its children's
 * timeouts are due) nor end it. They wait here, in order, and go out when the
 * socket is writable again (POLLOUT in the main loop). Each entry is its
 * length, the fd it passes (a dup of it, or -1) and its bytes. Bounded:
 * past OUTBOX_BYTES a reply waits for the socket as before, at most
 * SEND_TIMEOUT_MS, and a peer that takes nothing for that long is gone.
 */
#define OUTBOX_BYTES (1u << 20)
struct outbox_entry {
  uint32_t len;
  int32_t fd;
};
static uint8_t outbox[OUTBOX_BYTES] __attribute__((aligned(8)));
static size_t outbox_head, outbox_tail;

static size_t entry_size(uint32_t len) { return (sizeof(struct outbox_entry) + len + 7u) & ~(size_t)7u; }

int outbox_pending(void) { return outbox_head != outbox_tail; }

/* 1 sent, 0 the socket is full (EAGAIN); a broken socket ends the zygote. */
static int try_send(const uint8_t *buf, size_t len, int fd_to_pass) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int))];
  } control;
  if (fd_to_pass >= 0) {
    memset(&control, 0, sizeof control);
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd_to_pass, sizeof(int));
  }
  for (;;) {
    if (sendmsg(CONTROL_FD, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0) return 1;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return 0;
    shutdown_zygote(errno == EPIPE || errno == ECONNRESET ? 0 : 1);
  }
}

/* Whatever waits, in order, until the socket is full again. */
void flush_outbox(void) {
  while (outbox_pending()) {
    struct outbox_entry e;
    memcpy(&e, outbox + outbox_head, sizeof e);
    if (!try_send(outbox + outbox_head + sizeof e, e.len, e.fd)) return;
    hatch_close(e.fd);
    outbox_head += entry_size(e.len);
  }
  outbox_head = outbox_tail = 0;
}

/* 1 queued, 0 no room (or no fd for the copy). */
static int queue_reply(const uint8_t *buf, size_t len, int fd_to_pass) {
  size_t need = entry_size((uint32_t)len);
  if (outbox_tail + need > OUTBOX_BYTES && outbox_head > 0) {
    memmove(outbox, outbox + outbox_head, outbox_tail - outbox_head);
    outbox_tail -= outbox_head;
    outbox_head = 0;
  }
  if (outbox_tail + need > OUTBOX_BYTES) return 0;
  int fd = -1;
  if (fd_to_pass >= 0 && (fd = fcntl(fd_to_pass, F_DUPFD_CLOEXEC, 0)) < 0) return 0;
  struct outbox_entry e = {.len = (uint32_t)len, .fd = fd};
  memcpy(outbox + outbox_tail, &e, sizeof e);
  memcpy(outbox + outbox_tail + sizeof e, buf, len);
  outbox_tail += need;
  return 1;
}

void send_datagram(const uint8_t *buf, size_t len, int fd_to_pass) {
  if (outbox_pending()) flush_outbox();
  if (!outbox_pending() && try_send(buf, len, fd_to_pass)) return;
  if (queue_reply(buf, len, fd_to_pass)) return;
  /* The outbox is full: this reply waits for the socket, as long as a live peer may take. */
  uint64_t deadline = hatch_now_ns() + (uint64_t)SEND_TIMEOUT_MS * 1000000u;
  for (;;) {
    flush_outbox();
    if (!outbox_pending() && try_send(buf, len, fd_to_pass)) return;
    uint64_t now = hatch_now_ns();
    if (now >= deadline) shutdown_zygote(1);
    struct pollfd p = {.fd = CONTROL_FD, .events = POLLOUT};
    (void)poll(&p, 1, (int)((deadline - now) / 1000000u) + 1);
  }
}

void send_error(uint32_t id, int code, const char *why) {
  send_datagram(tx, hatch_encode_error(tx, id, (uint32_t)code, why), -1);
}

/* ---- requests --------------------------------------------------------- */

void close_fds(int *fds, unsigned n) {
  for (unsigned i = 0; i < n; i++) hatch_close(fds[i]);
}

static void handle_hello(const struct hatch_header *h) {
  const char *why = NULL;
  uint32_t version, idle_ms;
  int code = hatch_parse_hello(rx + HATCH_HEADER_SIZE, h->body_length, &version, &idle_ms, &why);
  if (code == 0 && handshake_done) code = HATCH_ERR_MALFORMED, why = "repeated HELLO";
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  if (version != HATCH_PROTOCOL_VERSION) {
    send_error(h->id, HATCH_ERR_VERSION, "unsupported protocol version");
    shutdown_zygote(2);
  }
  handshake_done = 1;
  idle_timeout_ms = idle_ms;
  idle_since_ns = hatch_now_ns();
  send_datagram(tx,
                hatch_encode_hello_ok(tx, h->id, HATCH_PROTOCOL_VERSION, (uint32_t)zygote_pid, HATCH_MAX_MESSAGE,
                                      HATCH_MAX_CHILDREN),
                -1);
#ifdef HATCH_TEST_FALSE_TWIN
  /* Only in a zygote test/zygote.test.ts compiles: a TWIN whose pidfd is not of a child (the zygote's own). */
  int self = (int)syscall(SYS_pidfd_open, zygote_pid, 0);
  send_datagram(tx, hatch_encode_twin(tx, (uint32_t)zygote_pid), self);
  hatch_close(self);
#endif
}

static void handle_signal(const struct hatch_header *h) {
  const char *why = NULL;
  uint32_t signo, scope;
  int code = hatch_parse_signal(rx + HATCH_HEADER_SIZE, h->body_length, &signo, &scope, &why);
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  struct child *c = find_child(h->id);
  if (c == NULL) {
    send_error(h->id, HATCH_ERR_NO_SUCH_CHILD, "no running child with that id");
    return;
  }
  if (scope == HATCH_SCOPE_PROCESS) {
    (void)pidfd_signal(c->pidfd, (int)signo);
  } else if (scope == HATCH_SCOPE_TREE) {
    c->reasons |= HATCH_EXIT_KILL_REQUESTED;
    signal_tree(c, (int)signo);
  } else {
    start_escalation(c, (int)signo, HATCH_EXIT_KILL_REQUESTED);
  }
}

static void handle_ping(const struct hatch_header *h) {
  const char *why = NULL;
  uint64_t token;
  int code = hatch_parse_ping(rx + HATCH_HEADER_SIZE, h->body_length, &token, &why);
  if (code != 0) {
    send_error(h->id, code, why);
    return;
  }
  send_datagram(tx, hatch_encode_pong(tx, h->id, token), -1);
}

/* SEQPACKET reads 0 both at EOF and for an empty datagram; only the former hangs up. */
static int peer_hung_up(void) {
  struct pollfd p = {.fd = CONTROL_FD, .events = POLLIN | POLLRDHUP};
  int ready = poll(&p, 1, 0);
  return ready < 0 || (ready == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) != 0);
}

void on_control(void) {
  union {
    struct cmsghdr align;
    char buf[CMSG_SPACE(sizeof(int) * HATCH_MAX_FDS_PER_MESSAGE)];
  } control;
  struct iovec iov = {.iov_base = rx, .iov_len = sizeof rx};
  struct msghdr msg = {
      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n = recvmsg(CONTROL_FD, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  received_ns = hatch_now_ns();
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return;
    shutdown_zygote(errno == ECONNRESET ? 0 : 1);
  }

  int fds[HATCH_MAX_FDS_PER_MESSAGE];
  unsigned nfds = 0;
  int extra_fds = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      if (nfds < HATCH_MAX_FDS_PER_MESSAGE) fds[nfds++] = fd;
      else {
        hatch_close(fd);
        extra_fds = 1;
      }
    }
  }
  if (n == 0 && peer_hung_up()) {
    close_fds(fds, nfds);
    shutdown_zygote(0);
  }

  struct hatch_header h;
  const char *why = NULL;
  int code = hatch_check_datagram(rx, (size_t)n, (msg.msg_flags & MSG_TRUNC) != 0,
                                  (msg.msg_flags & MSG_CTRUNC) != 0 || extra_fds, nfds, &h, &why);
  if (code == 0 && !handshake_done && h.type != HATCH_MSG_HELLO)
    code = HATCH_ERR_NOT_READY, why = "HELLO must come first";
  if (code != 0) {
    close_fds(fds, nfds);
    send_error(h.id, code, why);
    return;
  }
  switch (h.type) {
  case HATCH_MSG_HELLO:
    handle_hello(&h);
    break;
  case HATCH_MSG_SPAWN:
    handle_spawn(&h, fds, nfds);
    break;
  case HATCH_MSG_SIGNAL:
    handle_signal(&h);
    break;
  case HATCH_MSG_PING:
    handle_ping(&h);
    break;
  default:
    send_error(h.id, HATCH_ERR_UNKNOWN_TYPE, "unknown message type");
    break;
  }
}
