/*
 * A stock of fresh network, IPC and UTS namespaces, made while the zygote
 * has nothing else to do (a root zygote only).
 *
 * Creating a network namespace is the dearest part of a sandboxed clone
 * (docs/performance.md: about 0.6 ms here, IPC and UTS 0.1 ms more). A root
 * zygote can make them ahead: it unshares them itself, brings lo up, keeps
 * an fd of each and returns to its own namespaces. A spawn then enters one
 * stocked set just for its clone (setns; the child is born in it) and the
 * zygote goes straight back. Each set serves exactly one spawn and is
 * closed right after: operations share nothing, as with namespaces made by
 * clone. The stocked namespaces belong to the host's user namespace, so the
 * child, in a user namespace of its own, has no capability over them (it
 * cannot reconfigure its network; lo is already up).
 *
 * A used set is not closed at once: its fds wait in a short queue and are
 * closed together, RELEASE_BATCH at a time, or once the oldest has waited
 * RELEASE_MAX_WAIT_MS. The kernel tears down network and IPC namespaces in
 * batches (cleanup_net, free_ipc), each batch with a few RCU grace periods,
 * and where RCU is expedited (many VMs) each of those interrupts every CPU,
 * the next operation's program included. One namespace at a time paid them
 * per operation. What waits is nobody's: the operation's processes are gone
 * (its sockets with them), no fd of it is anywhere but here, and no spawn
 * ever enters a used set again.
 *
 * Nothing is stocked until a spawn asks for these namespaces, nor when the
 * zygote is not root (setns into a network namespace needs CAP_SYS_ADMIN in
 * the zygote's own user namespace), nor after the first failure (a
 * container's seccomp profile may refuse unshare): spawns then create their
 * namespaces in clone, as before.
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
#define RELEASE_BATCH 8
#define RELEASE_MAX_WAIT_MS 200

enum { NS_NET, NS_IPC, NS_UTS, NS_KINDS };
static const int kind_flag[NS_KINDS] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
static const char *const kind_path[NS_KINDS] = {"/proc/thread-self/ns/net", "/proc/thread-self/ns/ipc",
                                                "/proc/thread-self/ns/uts"};

static int own_ns[NS_KINDS] = {-1, -1, -1}; /* the zygote's own, to return to */
static int stock[STOCK_TARGET][NS_KINDS];
static unsigned stocked;
static int used[RELEASE_BATCH][NS_KINDS]; /* sets whose spawn is done with them, to close together */
static unsigned used_count;
static uint64_t oldest_used_ns;
static int wanted;   /* a spawn asked for these namespaces */
static int disabled; /* not root, or a step failed once */

static void close_set(int set[NS_KINDS]) {
  for (int k = 0; k < NS_KINDS; k++) hatch_closep(&set[k]);
}

/* Back to the zygote's own namespaces; a zygote that cannot return must not go on. */
static void return_home(int kinds) {
  for (int k = 0; k < NS_KINDS; k++)
    if ((kinds & kind_flag[k]) && setns(own_ns[k], kind_flag[k]) != 0)
      hatch_die(1, "setns back to the zygote's own namespace: %s", strerror(errno));
}

void ns_stock_release_used(void) {
  while (used_count > 0) close_set(used[--used_count]);
}

/* A set its spawn entered: closed with the next batch (see the top of this file). */
static void retire(int set[NS_KINDS]) {
  if (used_count == RELEASE_BATCH) ns_stock_release_used();
  if (used_count == 0) oldest_used_ns = hatch_now_ns();
  memcpy(used[used_count++], set, sizeof used[0]);
}

int ns_stock_release_due_ms(void) {
  if (used_count == 0) return -1;
  return hatch_ms_until(oldest_used_ns + (uint64_t)RELEASE_MAX_WAIT_MS * 1000000u);
}

/* Off for good: what is stocked is closed (it keeps namespaces alive), and so are the zygote's own. */
static void disable(const char *step, int err) {
  if (!disabled) hatch_log("namespace stock off (%s: %s); spawns create their namespaces", step, strerror(err));
  disabled = 1;
  while (stocked > 0) close_set(stock[--stocked]);
  ns_stock_release_used();
  close_set(own_ns);
}

int ns_stock_wants_more(void) { return wanted && !disabled && stocked < STOCK_TARGET; }

void ns_stock_fill_one(void) {
  if (!ns_stock_wants_more()) return;
  if (own_ns[NS_NET] < 0) {
    for (int k = 0; k < NS_KINDS; k++) {
      own_ns[k] = open(kind_path[k], O_RDONLY | O_CLOEXEC);
      if (own_ns[k] < 0) return disable("open own namespace", errno);
    }
  }
  if (unshare(STOCK_FLAGS) != 0) return disable("unshare", errno);
  int set[NS_KINDS] = {-1, -1, -1};
  int err = 0;
  for (int k = 0; k < NS_KINDS && err == 0; k++) {
    set[k] = open(kind_path[k], O_RDONLY | O_CLOEXEC);
    if (set[k] < 0) err = errno;
  }
  int lo = err == 0 ? hatch_bring_loopback_up() : 0;
  return_home(STOCK_FLAGS);
  if (err != 0 || lo != 0) {
    close_set(set);
    return disable(err != 0 ? "open stocked namespace" : "lo up", err != 0 ? err : -lo);
  }
  memcpy(stock[stocked++], set, sizeof set);
}

int ns_stock_enter(struct hatch_plan *plan, uint32_t *clone_flags) {
  uint32_t asked = *clone_flags & STOCK_FLAGS;
  if (asked == 0) return 0;
  if (!wanted && !disabled) {
    wanted = 1;
    disabled = !hatch_has_caps(
        1ull << HATCH_CAP_SYS_ADMIN); /* decided once: setns needs CAP_SYS_ADMIN in our own user namespace */
  }
  if (disabled || stocked == 0) return 0;
  int *set = stock[--stocked];
  int entered = 0;
  for (int k = 0; k < NS_KINDS; k++) {
    if (!(asked & (uint32_t)kind_flag[k])) continue;
    if (setns(set[k], kind_flag[k]) != 0) {
      int err = errno;
      return_home(entered);
      close_set(set);
      disable("setns into stocked namespace", err);
      return 0;
    }
    entered |= kind_flag[k];
  }
  retire(set);
  *clone_flags &= ~(uint32_t)entered;
  plan->loopback_ready = (entered & CLONE_NEWNET) != 0;
  return entered;
}

void ns_stock_leave(int entered) { return_home(entered); }
