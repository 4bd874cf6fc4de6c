/*
 * A stock of network, IPC and UTS namespaces, made while the zygote has
 * nothing else to do: by a root zygote itself, or by the twin of any other
 * (ns_twin.c), in the twin's own user namespace.
 *
 * Creating a network namespace is the dearest part of a sandboxed clone
 * (docs/performance.md: about 0.6 ms here, and as much again to tear it
 * down). A root zygote can make them ahead: it unshares them itself, brings
 * lo up, keeps an fd of each and returns to its own namespaces. A spawn then
 * enters one stocked set just for its clone (setns; the child is born in it)
 * and the zygote goes straight back. The stocked namespaces belong to the
 * host's user namespace, so the child, in a user namespace of its own or
 * under a uid that is not root, has no capability over them (it cannot
 * reconfigure its network; lo is already up).
 *
 * No two operations are ever in one namespace at the same time. The IPC and
 * UTS namespaces serve exactly one operation (System V objects outlive their
 * processes). A network namespace serves again only when nothing of its
 * operation can be left in it (docs/policy.md, "Network namespaces"):
 *   - the spawn said so (HATCH_SPAWN_REUSABLE_NET): seccomp lets the program
 *     make no socket but a socketpair(AF_UNIX) stream or seqpacket pair, so
 *     no packet can cross lo and no address, route or counter can change;
 *     and its program is not uid 0 of the zygote's user namespace: any
 *     other uid, in a user namespace of its own or not, has no capability
 *     there and may not write the namespace's sysctls (root's files); a
 *     twin's programs all have the zygote's uid, which must then not be the
 *     host's uid 0 (ns_stock_in_twin);
 *   - the operation had a pid namespace, and its init is reaped: every one
 *     of its processes is gone;
 *   - read from inside, the namespace is as it was new: no socket is left
 *     (a pair kept alive by fds in flight, or sent out of the sandbox), and
 *     lo's counters and the IP, ICMP, TCP and UDP counters read what a new
 *     namespace's read when it was stocked.
 * The reading waits until the zygote has handled the events at hand
 * (ns_stock_work_one, ns_stock_work_while_busy), so it never delays a
 * report. A namespace that passes waits among the clean ones, and the next
 * stocked set takes it with new IPC and UTS namespaces. Anything else is
 * closed.
 *
 * What is closed is not closed at once: its fds wait in a short queue and are
 * closed together, RELEASE_BATCH sets' worth at a time, or once the oldest
 * has waited RELEASE_MAX_WAIT_MS. The kernel tears down network and IPC
 * namespaces in batches (cleanup_net, free_ipc), each batch with a few RCU
 * grace periods, and where RCU is expedited (many VMs) each of those
 * interrupts every CPU, the next operation's program included. One
 * namespace at a time paid them per operation. What waits is nobody's: the
 * operation's processes are gone (its sockets with them), no fd of it is
 * anywhere but here, and no spawn ever enters it again.
 *
 * Nothing is stocked until a spawn asks for these namespaces, nor when the
 * zygote could not enter its own namespaces again (can_return_home: it is
 * not root, or root in a user namespace that does not own them), nor after
 * the first failure (a container's seccomp profile may refuse unshare):
 * spawns then create their namespaces in clone, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "plan.h"
#include "privilege.h"
#include "util.h"
#include "zygote.h"

#define STOCK_FLAGS (CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
#define STOCK_TARGET 2
#define CLEAN_MAX 16 /* network namespaces back as new, waiting to serve again */
#define RELEASE_BATCH 8
#define RELEASE_MAX_WAIT_MS 200
/* /proc/net/dev with only lo, and /proc/net/snmp, read about 1.7 KB together. */
#define NET_STATE_MAX 4096

enum { NS_NET, NS_IPC, NS_UTS, NS_KINDS };
static const int kind_flag[NS_KINDS] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
static const char *const kind_path[NS_KINDS] = {"/proc/thread-self/ns/net", "/proc/thread-self/ns/ipc",
                                                "/proc/thread-self/ns/uts"};

struct stocked_set {
  int fd[NS_KINDS];
  int net_reusable; /* its network namespace read as new ones do when it was stocked */
};

static int own_ns[NS_KINDS] = {-1, -1, -1}; /* the zygote's own, to return to */
static struct stocked_set stock[STOCK_TARGET];
static unsigned stocked;
static int clean[CLEAN_MAX]; /* network namespaces back from their operation as new */
static unsigned clean_count;
static int returned[HATCH_CHILD_SLOTS]; /* back from their operation, to be read between events */
static unsigned returned_count;
static int used[RELEASE_BATCH * NS_KINDS]; /* fds of namespaces done with, to close together */
static unsigned used_count;
static uint64_t oldest_used_ns;
static int wanted;   /* a spawn asked for these namespaces */
static int disabled; /* not root, or a step failed once */
/* What a new network namespace with lo up reads (read_net_state), and a buffer to read another into. */
static char first_state[NET_STATE_MAX];
static size_t first_state_len;
static char state[NET_STATE_MAX];

/* Back to the zygote's own namespaces (can_return_home tried it first); a zygote that cannot return must not go on. */
static void return_home(int kinds) {
  for (int k = 0; k < NS_KINDS; k++)
    if ((kinds & kind_flag[k]) && setns(own_ns[k], kind_flag[k]) != 0)
      hatch_die(1, "setns back to the zygote's own namespace: %s", strerror(errno));
}

void ns_stock_release_used(void) {
  while (used_count > 0) hatch_closep(&used[--used_count]);
}

/* A namespace fd done with: closed with the next batch (see the top of this file). */
static void retire(int *fd) {
  if (*fd < 0) return;
  if (used_count == sizeof used / sizeof used[0]) ns_stock_release_used();
  if (used_count == 0) oldest_used_ns = hatch_now_ns();
  used[used_count++] = *fd;
  *fd = -1;
}

static void retire_set(struct stocked_set *set) {
  for (int k = 0; k < NS_KINDS; k++) retire(&set->fd[k]);
}

int ns_stock_release_due_ms(void) {
  if (used_count == 0) return -1;
  return hatch_ms_until(oldest_used_ns + (uint64_t)RELEASE_MAX_WAIT_MS * 1000000u);
}

/* Off for good: what is stocked is closed (it keeps namespaces alive), and so are the zygote's own. A failed step is logged. */
static void disable(const char *step, int err) {
  if (!disabled && step != NULL)
    hatch_log("namespace stock off (%s: %s); spawns create their namespaces", step, strerror(err));
  disabled = 1;
  while (stocked > 0) retire_set(&stock[--stocked]);
  while (clean_count > 0) retire(&clean[--clean_count]);
  while (returned_count > 0) retire(&returned[--returned_count]);
  ns_stock_release_used();
  for (int k = 0; k < NS_KINDS; k++) hatch_closep(&own_ns[k]);
}

/* One /proc/thread-self/net file appended to buf (cap bytes) at *len: 0, or -1 when it cannot be read whole. */
static int append_proc_net(const char *path, char *buf, size_t cap, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = 0;
  for (;;) {
    if (*len == cap) {
      rc = -1; /* more than a namespace with nothing in it reads */
      break;
    }
    ssize_t k = read(fd, buf + *len, cap - *len);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      rc = k < 0 ? -1 : 0;
      break;
    }
    *len += (size_t)k;
  }
  close(fd);
  return rc;
}

/* The counters of the current network namespace (lo's, then IP, ICMP, TCP and UDP), or (size_t)-1. */
static size_t read_net_state(char *buf) {
  size_t len = 0;
  if (append_proc_net("/proc/thread-self/net/dev", buf, NET_STATE_MAX, &len) != 0 ||
      append_proc_net("/proc/thread-self/net/snmp", buf, NET_STATE_MAX, &len) != 0)
    return (size_t)-1;
  return len;
}

/*
 * No socket of any kind is left in the current network namespace: none in
 * use (stream, datagram, pairs, kept alive by fds in flight or held outside),
 * no TCP socket closing or in TIME_WAIT, no fragment queue. sockstat's other
 * figures (TCP alloc and mem, UDP mem) count the whole host.
 */
static int no_socket_left(void) {
  char buf[1024];
  size_t len = 0;
  if (append_proc_net("/proc/thread-self/net/sockstat", buf, sizeof buf - 1, &len) != 0) return 0;
  buf[len] = '\0';
  static const char used_none[] = "sockets: used 0\n";
  return strncmp(buf, used_none, sizeof used_none - 1) == 0 && strstr(buf, "\nTCP: inuse 0 orphan 0 tw 0 ") != NULL &&
         strstr(buf, "\nUDP: inuse 0 ") != NULL && strstr(buf, "\nRAW: inuse 0\n") != NULL &&
         strstr(buf, "\nFRAG: inuse 0 memory 0\n") != NULL;
}

/* Called inside a network namespace: whether its counters read as the first new one's did (the first sets the mark). */
static int reads_as_first(void) {
  size_t len = read_net_state(state);
  if (len == (size_t)-1 || len == 0) return 0;
  if (first_state_len == 0) {
    memcpy(first_state, state, len);
    first_state_len = len;
  }
  return len == first_state_len && memcmp(state, first_state, len) == 0;
}

/* Whether the network namespace at fd reads as new (see the top of this file). */
static int back_as_new(int fd) {
  if (first_state_len == 0 || setns(fd, CLONE_NEWNET) != 0) return 0;
  int as_new = no_socket_left() && reads_as_first();
  return_home(CLONE_NEWNET);
  return as_new;
}

static int wants_more(void) { return wanted && !disabled && stocked < STOCK_TARGET; }

int ns_stock_has_work(void) { return returned_count > 0 || wants_more(); }

/* A network namespace back from its operation: kept to serve again if it reads as new, else closed. */
static void read_one_returned(void) {
  int fd = returned[--returned_count];
  if (disabled || clean_count == CLEAN_MAX || !back_as_new(fd)) return retire(&fd);
  clean[clean_count++] = fd;
}

/*
 * Decided once, at the first spawn that asks for these namespaces, by
 * trying: the stock is on only if the zygote can enter each of its own
 * namespaces again, which is what it must do after every unshare and clone.
 * setns needs CAP_SYS_ADMIN both in the zygote's user namespace and in the
 * one that owns the namespace entered. A root zygote has both; so does root
 * in a container whose runtime made every namespace with the container's
 * user namespace. Root in a user namespace of its own whose IPC, UTS or
 * network namespace is still the host's (`unshare -r`, systemd's
 * PrivateUsers=) holds the capability but could never come back: it keeps
 * making namespaces in clone.
 */
static int enter_own_namespaces(int fds[NS_KINDS]) {
  if (!hatch_has_caps(1ull << HATCH_CAP_SYS_ADMIN)) return 0;
  for (int k = 0; k < NS_KINDS; k++) {
    /* Entering the namespace it is already in changes nothing, and asks for the same capabilities as coming back. */
    if ((fds[k] = open(kind_path[k], O_RDONLY | O_CLOEXEC)) < 0 || setns(fds[k], kind_flag[k]) != 0) return 0;
  }
  return 1;
}

static void can_return_home(void) {
  /* Not a failure, only what this zygote is: off without a word. */
  if (!enter_own_namespaces(own_ns)) disable(NULL, 0);
}

int ns_stock_home_reachable(void) {
  int fds[NS_KINDS] = {-1, -1, -1};
  int reachable = enter_own_namespaces(fds);
  for (int k = 0; k < NS_KINDS; k++) hatch_closep(&fds[k]);
  return reachable;
}

/* Opens the namespaces `flags` names, brings lo up in a new network one and reads it: 0, or why not (the step, *err). */
static const char *take_new(struct stocked_set *set, int flags, int *err) {
  for (int k = 0; k < NS_KINDS; k++) {
    if (!(flags & kind_flag[k])) continue;
    set->fd[k] = open(kind_path[k], O_RDONLY | O_CLOEXEC);
    if (set->fd[k] < 0) return *err = errno, "open stocked namespace";
  }
  if (!(flags & CLONE_NEWNET)) return NULL;
  int lo = hatch_bring_loopback_up();
  if (lo != 0) return *err = -lo, "lo up";
  set->net_reusable = reads_as_first();
  return NULL;
}

/*
 * The twin's stock (ns_stock_in_twin): the sets belong to the twin's user
 * namespace, where a program (in a user namespace of its own, beneath it)
 * holds no capability. A sysctl is written by the host's root or by whoever
 * holds CAP_NET_ADMIN (CAP_SYS_RESOURCE for IPC) where the namespace
 * belongs; so there the uid rule is that the zygote, whose uid every such
 * program has, is not the host's root.
 */
static int in_twin;
static int twin_host_root; /* the zygote runs as the host's uid 0 (seen in a user namespace of its own) */

void ns_stock_in_twin(int zygote_is_host_root) {
  in_twin = 1;
  twin_host_root = zygote_is_host_root;
}

static void fill_one(void) {
  struct stocked_set set = {{-1, -1, -1}, 0};
  /* A clean network namespace serves again, with IPC and UTS namespaces of its own. */
  if (clean_count > 0) set.fd[NS_NET] = clean[--clean_count], set.net_reusable = 1;
  int flags = set.fd[NS_NET] >= 0 ? STOCK_FLAGS & ~CLONE_NEWNET : STOCK_FLAGS;
  if (unshare(flags) != 0) {
    int err = errno;
    retire_set(&set);
    return disable("unshare", err);
  }
  int err = 0;
  const char *failed = take_new(&set, flags, &err);
  return_home(flags);
  if (failed != NULL) {
    retire_set(&set);
    return disable(failed, err);
  }
  stock[stocked++] = set;
}

void ns_stock_work_one(void) {
  if (returned_count > 0) return read_one_returned();
  if (wants_more()) fill_one();
}

/*
 * A busy zygote may never be idle, and a spawn that finds the stock empty
 * makes all three namespaces in its clone: its network namespace is then
 * made and torn down for that one operation. So between a busy round's
 * events a little is done: a returned namespace is read, a set is stocked
 * around a clean one (IPC and UTS only), and a wholly new set only when the
 * stock is empty (what the next spawn's clone would make anyway, but one
 * that can serve again).
 */
static int cheap_fill(void) { return wants_more() && (clean_count > 0 || stocked == 0); }

int ns_stock_has_busy_work(void) { return returned_count > 0 || cheap_fill(); }

void ns_stock_work_while_busy(void) {
  if (returned_count > 0) read_one_returned();
  if (cheap_fill()) fill_one();
}

int ns_stock_enter(struct hatch_plan *plan, uint32_t *clone_flags, int *net_to_return) {
  *net_to_return = -1;
  uint32_t asked = *clone_flags & STOCK_FLAGS;
  if (asked == 0) return 0;
  if (!wanted && !disabled) {
    wanted = 1;
    can_return_home();
  }
  if (disabled || stocked == 0) return 0;
  struct stocked_set *set = &stock[--stocked];
  int entered = 0;
  for (int k = 0; k < NS_KINDS; k++) {
    if (!(asked & (uint32_t)kind_flag[k])) continue;
    if (setns(set->fd[k], kind_flag[k]) != 0) {
      int err = errno;
      return_home(entered);
      retire_set(set);
      disable("setns into stocked namespace", err);
      return 0;
    }
    entered |= kind_flag[k];
  }
  /*
   * Only an operation that can leave nothing in it, whose processes all end
   * with its init, and whose program is not uid 0 of the zygote's user
   * namespace (which needs no capability to write the namespace's sysctls)
   * may hand it back.
   */
  uint32_t host_uid = plan->has_credentials ? plan->uid : (uint32_t)geteuid();
  int owners_root = in_twin ? twin_host_root : host_uid == 0;
  if ((entered & CLONE_NEWNET) && set->net_reusable && (plan->flags & HATCH_SPAWN_REUSABLE_NET) &&
      (*clone_flags & CLONE_NEWPID) && !owners_root) {
    *net_to_return = set->fd[NS_NET];
    set->fd[NS_NET] = -1;
  }
  retire_set(set);
  *clone_flags &= ~(uint32_t)entered;
  plan->loopback_ready = (entered & CLONE_NEWNET) != 0;
  return entered;
}

void ns_stock_leave(int entered) { return_home(entered); }

void ns_stock_take_back(int *net_fd) {
  if (*net_fd < 0) return;
  /* Each child slot holds at most one, so there is room; read after the events at hand (ns_stock_work_*). */
  if (disabled || returned_count == sizeof returned / sizeof returned[0]) return retire(net_fd);
  returned[returned_count++] = *net_fd;
  *net_fd = -1;
}
