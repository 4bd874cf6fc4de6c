/* The child between clone and execve: applies a plan, in docs/ARCHITECTURE.md order. */
#ifndef HATCHERY_CHILD_H
#define HATCHERY_CHILD_H

#include <signal.h>
#include <sys/types.h>
#include "plan.h"

/*
 * The signals whose disposition the zygote changes (it ignores SIGPIPE):
 * every other one it keeps at SIG_DFL (hatch_zygote_signal_dispositions), so
 * these are all a child has to reset before its exec, where ignored signals
 * would stay ignored.
 */
#define HATCH_ZYGOTE_IGNORED_SIGNALS {SIGPIPE}
/* At the zygote's start: every disposition SIG_DFL but HATCH_ZYGOTE_IGNORED_SIGNALS, SIG_IGN. */
void hatch_zygote_signal_dispositions(void);

struct hatch_child_args {
  const struct hatch_plan *plan;
  int stdio[3];     /* received from Node; become 0, 1, 2 */
  int err_fd;       /* write end of the close-on-exec error pipe */
  int sync_fd;      /* read end of the user-namespace sync pipe, or -1 */
  /*
   * The zygote's write end of that pipe, or -1. The clone copied it into the
   * child's fd table; the child closes its copy before it waits, so that the
   * zygote's death before the word is EOF, not a wait on itself.
   */
  int sync_peer_fd;
  /*
   * Write end of the release pipe, or -1: a child that shares the zygote's
   * memory (CLONE_VM) holds it while the zygote waits; execve (close-on-exec),
   * _exit, or an init's explicit close once it runs only raw system calls
   * lets the zygote go on.
   */
  int release_fd;
  int shares_zygote_memory;
  pid_t zygote_pid; /* getpid() of the zygote, saved before clone3 */
  /*
   * The args file's mapping and its pointer array (HATCH_TAG_ARGS_FD), or
   * NULL. execve drops them with the rest of the address space; a
   * pid-namespace init outlives the program's exec and unmaps them then, so
   * a long-running program does not pin its argv in memory twice.
   */
  void *args_file;
  size_t args_file_len;
  void *args_slots;
  size_t args_slots_len;
};

/*
 * Never returns: execs, or writes a HATCH_REPORT_FAILURE to err_fd and _exit(127).
 * Uses only system calls; no allocation, no stdio.
 */
_Noreturn void hatch_child_run(const struct hatch_child_args *args);

#endif
