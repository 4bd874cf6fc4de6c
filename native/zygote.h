/*
 * The zygote's own parts and what they share (docs/ARCHITECTURE.md):
 * zygote.c the main loop, signals, orphans and shutdown; zygote_io.c the
 * control socket (receive, reply, HELLO / SIGNAL / PING); zygote_spawn.c a
 * SPAWN (args file, pipes, clone); child_table.c the children and their
 * lifecycle (reports, timers, escalation, exit). Nothing here allocates.
 */
#ifndef HATCHERY_ZYGOTE_H
#define HATCHERY_ZYGOTE_H

#include <stdint.h>
#include <sys/types.h>

#include "protocol.h"
#include "wire.h"

#define CONTROL_FD HATCH_CONTROL_FD
#define STDIO_FDS 3u
#define ARGS_FD_INDEX 3u
#define DEFAULT_GRACE_MS 2000u

enum kill_state { KILL_NONE, KILL_GRACE, KILL_SENT };
/* "/proc/<pid>/root" + the private tmpfs's mount point (/tmp or /var/tmp) */
#define TMP_PATH_MAX 64

struct child {
  int used;
  uint32_t id;
  pid_t pid;
  int pidfd;
  int err_fd;   /* read end of the error pipe (struct hatch_child_report) until EOF, then -1 */
  int timer_fd; /* -1 until a timeout or escalation needs one */
  int timer_armed;
  enum kill_state kill_state;
  uint32_t reasons;
  uint32_t timeout_ms, grace_ms, term_signal;
  uint64_t exec_ns;
  int has_init;       /* CLONE_NEWPID: pid is our init, the program is its pid 2 */
  int spawned;        /* SPAWNED was sent */
  int setup_killed;   /* still setting up after RELEASE_WAIT_MS, so killed: the spawn fails (ETIMEDOUT) */
  int has_program_status;
  int program_status; /* the program's wait status, reported by the init */
  uint32_t kill_uid;  /* with HATCH_SPAWN_KILL_UID: every process of this uid dies with the child */
  int has_kill_uid;
  /* Without an init to report it, the zygote watches the private tmpfs itself (an O_PATH fd keeps it alive). */
  char tmp_path[TMP_PATH_MAX];
  int tmp_fd;
  /* The init reported the tree gone (HATCH_REPORT_TREE_GONE) and EXIT was sent: only the reaping is left. */
  int reported;
  int has_usage; /* the init's HATCH_REPORT_USAGE, for the early EXIT */
  uint64_t user_cpu_us, sys_cpu_us, max_rss_bytes;
  int tracing; /* HATCH_SPAWN_TRACE: trace_ns collects the events, sent as a TRACE before the last reply */
  uint64_t trace_ns[HATCH_TRACE_EVENTS];
  int stocked_net; /* a stocked network namespace to hand back when released (ns_stock_take_back), or -1 */
};

/* child_table.c */
/*
 * Slots: HATCH_MAX_CHILDREN running spawns (what HELLO_OK advertises), and as
 * many again whose EXIT was sent early (HATCH_REPORT_TREE_GONE) and whose
 * init is still to be reaped, so a full zygote never refuses a SPAWN because
 * of an init that is only tearing its namespaces down.
 */
#define HATCH_CHILD_SLOTS (2u * HATCH_MAX_CHILDREN)
extern struct child children[HATCH_CHILD_SLOTS];
/* Slots in use, and of those the spawns whose EXIT is not sent yet. */
extern unsigned live_children;
extern unsigned running_children;
struct child *find_child(uint32_t id);
int is_tracked_pid(pid_t pid);
struct child *free_slot(void);
void release_child(struct child *c);
int pidfd_signal(int pidfd, int signo);
void signal_tree(const struct child *c, int signo);
void start_escalation(struct child *c, int signo, uint32_t reason);
void on_child_exit(struct child *c);
void on_error_pipe(struct child *c);
void on_timer(struct child *c);
void trace(struct child *c, uint32_t event);

/* zygote_io.c */
extern uint8_t rx[HATCH_MAX_MESSAGE + 1];
extern uint8_t tx[HATCH_REPLY_MAX];
void send_datagram(const uint8_t *buf, size_t len, int fd_to_pass);
/* Replies the socket could not take yet (zygote_io.c): the main loop polls for POLLOUT while some wait. */
int outbox_pending(void);
void flush_outbox(void);
void send_error(uint32_t id, int code, const char *why);
void close_fds(int *fds, unsigned n);
void on_control(void);
/* When the datagram being handled was read (HATCH_TRACE_RECEIVED). */
extern uint64_t received_ns;

/* zygote_spawn.c */
void handle_spawn(const struct hatch_header *h, int fds[], unsigned nfds);
/* A stack for a process in our memory (a child, the twin), with a guard below it: its top, or NULL. */
void *hatch_map_stack(void);
void hatch_keep_dumpable(void);
/* Every process of an operation uid dies (child_table.c); --kill-uid runs it from a process of its own. */
void hatch_kill_uid(uint32_t uid);
int hatch_kill_uid_main(int argc, char **argv);

/* ns_stock.c: network, IPC and UTS namespaces made ahead (by a root zygote, or by the twin of any other) */
struct hatch_plan;
/* Work for an idle moment: a namespace back from its operation to read, or the stock to fill; and one piece of it. */
int ns_stock_has_work(void);
void ns_stock_work_one(void);
/* After the events of a busy round: only the cheap part of that work, if there is any. */
int ns_stock_has_busy_work(void);
void ns_stock_work_while_busy(void);
/*
 * Enters a stocked set for the namespaces *clone_flags asks for and clears
 * those flags; returns what was entered (0: nothing), for ns_stock_leave right
 * after clone. *net_to_return: the network namespace's fd when the operation
 * may hand it back (ns_stock_take_back once its init is reaped), else -1.
 */
int ns_stock_enter(struct hatch_plan *plan, uint32_t *clone_flags, int *net_to_return);
void ns_stock_leave(int entered);
/* A network namespace from ns_stock_enter, every process of its operation gone: read later, kept to serve again if it reads as new. */
void ns_stock_take_back(int *net_fd);
/* Used namespaces are closed in batches: ms until the oldest is due (0: now, -1: none waits), and the release. */
int ns_stock_release_due_ms(void);
void ns_stock_release_used(void);
/* Whether this process could stock namespaces itself: it may enter its own network, IPC and UTS namespaces again. */
int ns_stock_home_reachable(void);
/* The stock is the twin's (ns_twin.c), and so is the uid rule for handing a network namespace on. */
void ns_stock_in_twin(int zygote_is_host_root);

/* ns_twin.c: a zygote that cannot stock namespaces has a twin that can (docs/performance.md §25) */
/* Whether the twin starts this spawn (made on first use): no credentials; user, network, IPC and UTS namespaces, all four. */
int ns_twin_serves(const struct hatch_plan *plan);
/* Whether the twin runs: then every ns_stock_work_* call goes through it. */
int ns_twin_running(void);
/* fn(arg) run by the twin while the zygote waits; its result. A twin that dies in a call takes the zygote with it. */
int ns_twin_call(int (*fn)(void *), void *arg);
/* The twin's pid (a child of the zygote that is no operation's), or -1. */
pid_t ns_twin_pid(void);
void ns_twin_stop(void);
/* zygote.c */
extern int signal_fd;
extern pid_t zygote_pid;
extern int handshake_done;
extern uint32_t idle_timeout_ms;
extern uint64_t idle_since_ns;
extern uint64_t last_orphan_scan_ns;
unsigned reap_orphans(int block);
_Noreturn void shutdown_zygote(int status);

#endif
