/*
 * A parsed SPAWN request: everything the child applies, decided in TypeScript.
 * All pointers point into the zygote's static receive buffer (or static arrays),
 * or, for argv and env from an args file, into that file's read-only mapping
 * and a pointer array mapped beside it; the zygote maps both before clone3 and
 * unmaps them after. Nothing is allocated between parsing, clone3 and execve.
 */
#ifndef HATCHERY_PLAN_H
#define HATCHERY_PLAN_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include "protocol.h"

struct hatch_landlock_path {
  uint64_t allowed_access;
  const char *path;
  int exact;                             /* HATCH_TAG_LANDLOCK_PATH_EXACT: opened by hatch_open_exact */
};

struct hatch_landlock_port {
  uint64_t allowed_access;
  uint64_t port;
};

struct hatch_mount_step {
  uint32_t op;                           /* enum hatch_mount_op */
  uint32_t flags;                        /* HATCH_MOUNT_OP_EXACT: opened by hatch_open_exact */
  const char *path;
};

struct hatch_plan {
  const char *file;
  const char **argv;                     /* NULL-terminated: inline_argv, or slots for an args file */
  size_t argc;
  size_t argv_room;                      /* entries argv may hold before its NULL */
  const char **envp;                     /* NULL-terminated: inline_envp, or slots for an args file */
  size_t envc;
  size_t envp_room;
  int has_args_file;                     /* HATCH_TAG_ARGS_FD: argv and env come from the 4th fd */
  uint64_t args_file_length;
  const char *cwd;                       /* NULL: inherit the zygote's */
  struct hatch_rlimit_value rlimits[HATCH_MAX_RLIMITS];
  size_t rlimit_count;
  int has_timeout;
  struct hatch_timeout_value timeout;
  uint32_t flags;                        /* HATCH_SPAWN_* */
  int has_credentials;
  uint32_t uid, gid;
  int has_namespaces;
  struct hatch_namespaces_value namespaces;
  /* Not on the wire: set by the zygote when the child enters a stocked network namespace (ns_stock.c). */
  int loopback_ready;
  int has_landlock;
  struct hatch_landlock_ruleset_value landlock;
  struct hatch_landlock_path landlock_paths[HATCH_MAX_LANDLOCK_PATHS];
  size_t landlock_path_count;
  struct hatch_landlock_port landlock_ports[HATCH_MAX_LANDLOCK_PORTS];
  size_t landlock_port_count;
  const void *seccomp_filter;            /* struct sock_filter[], or NULL */
  size_t seccomp_insn_count;
  const void *init_seccomp_filter;       /* the pid-namespace init's own filter, or NULL */
  size_t init_seccomp_insn_count;
  int has_private_tmp;
  struct hatch_private_tmp_value private_tmp;
  const char *private_tmp_path;
  struct hatch_mount_step mount_ops[HATCH_MAX_MOUNT_OPS];
  size_t mount_op_count;
  const char *inline_argv[HATCH_MAX_INLINE_ARGS + 1];
  const char *inline_envp[HATCH_MAX_INLINE_ENV + 1];
};

/*
 * What the child writes on its close-on-exec error pipe (C only, not on the
 * Node wire). Without an init: one FAILURE, or EOF once execve succeeded.
 * With a pid-namespace init: FAILURE (from either process), or EXEC_OK, then
 * EXIT_STATUS as soon as the program is reaped (so a kill of the init while it
 * ends the rest of the namespace still reports the program's own status),
 * then USAGE and TREE_GONE; EOF when the init is gone.
 */
enum hatch_report_kind {
  HATCH_REPORT_FAILURE = 1,     /* a = stage, b = errno */
  HATCH_REPORT_EXEC_OK = 2,
  HATCH_REPORT_EXIT_STATUS = 3, /* a = the program's wait status, b = HATCH_REPORT_* bits below */
  HATCH_REPORT_TRACE = 4, /* struct hatch_child_value_report: key = event, value = ns; only with HATCH_SPAWN_TRACE */
  HATCH_REPORT_USAGE = 5, /* struct hatch_child_value_report: key = enum hatch_usage, value; before TREE_GONE */
  /*
   * After EXIT_STATUS and USAGE: the init killed and reaped every other
   * process of its pid namespace, so nothing of the operation runs any more,
   * and the zygote reports the exit now instead of after the init's own
   * exit, which tears the namespaces down (the mount namespace's unmount
   * waits for an RCU grace period) before its pidfd becomes readable.
   */
  HATCH_REPORT_TREE_GONE = 6,
};

/* EXIT_STATUS b bits */
#define HATCH_REPORT_TMP_FULL 1u /* the private tmpfs was full when the program ended */

/* USAGE keys: the init's getrusage(RUSAGE_CHILDREN) once every process of the namespace is reaped. */
enum hatch_usage {
  HATCH_USAGE_USER_US = 1,
  HATCH_USAGE_SYS_US = 2,
  HATCH_USAGE_MAX_RSS_BYTES = 3,
};

struct hatch_child_report {
  uint32_t kind;
  int32_t a;
  int32_t b;
  uint32_t reserved;
};

/* A HATCH_REPORT_TRACE or HATCH_REPORT_USAGE, read as one struct hatch_child_report's bytes. */
struct hatch_child_value_report {
  uint32_t kind;
  uint32_t key; /* TRACE: enum hatch_trace_event, below HATCH_TRACE_EVENTS; USAGE: enum hatch_usage */
  uint64_t value; /* TRACE: CLOCK_MONOTONIC ns */
};
_Static_assert(sizeof(struct hatch_child_value_report) == sizeof(struct hatch_child_report),
               "a value report is read as one child report");

/*
 * Sandbox verbs applied by the child, in docs/ARCHITECTURE.md order. Each returns
 * 0 or -errno and performs no allocation. Implemented in ns.c, landlock.c and
 * seccomp.c; child.c calls them. hatch_child_enter_userns takes the inside
 * ids once the zygote has written the maps (child.c awaits its word first).
 */
int hatch_child_enter_userns(const struct hatch_plan *plan);
int hatch_child_setup_mounts(const struct hatch_plan *plan);
/* ioctl(SIOCSIFFLAGS) on lo in the caller's network namespace: 0 or -errno. */
int hatch_bring_loopback_up(void);
int hatch_child_apply_landlock(const struct hatch_plan *plan);
/*
 * An O_PATH fd for the absolute `path`, reached with no symlink anywhere on
 * it, or -errno: ELOOP when there is one. For a path a pool's call narrowed
 * to (TypeScript judged its real path against the pool's): what this opens
 * is what was judged, however the path changed since. landlock.c.
 */
int hatch_open_exact(const char *path);
int hatch_child_apply_seccomp(const struct hatch_plan *plan);
/* A filter of insn_count instructions (NULL: none), through raw_syscall.h: safe for an init beside the zygote. */
int hatch_install_filter(const void *filter, size_t insn_count);

/*
 * A root caller's operation ids (native/protocol.json, OPERATION_UID_BASE),
 * and each one's killer id beside the range: an id no process but the
 * operation's own helpers ever has (kill_uid's helper, and an init without
 * a user namespace). Such a helper takes the operation id as its effective
 * id only, so it may signal the operation's processes and none of them may
 * signal or ptrace it.
 */
static inline int hatch_is_operation_id(uint32_t id) {
  return id - HATCH_OPERATION_UID_BASE < HATCH_OPERATION_UID_COUNT;
}
static inline uint32_t hatch_killer_id(uint32_t id) { return id - HATCH_OPERATION_UID_BASE + HATCH_KILLER_UID_BASE; }

/*
 * A pid-namespace init without a user namespace, whose operation has ids of
 * its own: it keeps the killer ids as its real and saved ids (child.c), which
 * sets it apart from its program, so it may run in the zygote's memory.
 */
static inline int hatch_init_apart_by_ids(const struct hatch_plan *plan) {
  return plan->has_namespaces && (plan->namespaces.clone_flags & CLONE_NEWPID) &&
         !(plan->namespaces.clone_flags & CLONE_NEWUSER) && plan->has_credentials && hatch_is_operation_id(plan->uid) &&
         hatch_is_operation_id(plan->gid);
}

/* Zygote side of user namespaces: write /proc/<pid>/{setgroups,uid_map,gid_map}. */
int hatch_parent_write_id_maps(const struct hatch_plan *plan, int pid, uint32_t outside_uid, uint32_t outside_gid);
/* A user namespace of pid's own whose uid and gid 0 are outside_uid and outside_gid (setgroups denied first): 0 or -errno. */
int hatch_write_self_map(int pid, uint32_t outside_uid, uint32_t outside_gid);

#endif
