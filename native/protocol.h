/*
 * hatchery wire protocol between Node (src/protocol/wire.ts) and the zygote.
 *
 * This header and src/protocol/wire.ts are the only two definitions of the
 * protocol; names match one to one (HATCH_MSG_SPAWN <-> MessageType.Spawn).
 *
 * Transport: one AF_UNIX SOCK_SEQPACKET socketpair. One message = one datagram:
 *   struct hatch_header (12 bytes, little endian) followed by body_length bytes.
 * File descriptors travel as SCM_RIGHTS on the same datagram.
 * Anything larger than HATCH_MAX_MESSAGE, or whose header disagrees with the
 * datagram size, is refused with HATCH_MSG_ERROR before anything is allocated.
 *
 * argv and env are limited by the kernel, not by the datagram: a SPAWN whose
 * ARG/ENV records would not fit in HATCH_MAX_MESSAGE carries them in an args
 * file instead (HATCH_TAG_ARGS_FD, below). An ERROR reply therefore always
 * means a protocol fault, never a request that was merely large.
 */
#ifndef HATCHERY_PROTOCOL_H
#define HATCHERY_PROTOCOL_H

#include <stdint.h>

#define HATCH_PROTOCOL_VERSION 1u
#define HATCH_HEADER_SIZE 12u
#define HATCH_MAX_MESSAGE (128u * 1024u)
/* SPAWN: stdin, stdout, stderr, and the args file when the body has HATCH_TAG_ARGS_FD. */
#define HATCH_MAX_FDS_PER_MESSAGE 4u

/*
 * Bounds on one spawn plan; the zygote keeps static arrays of these sizes.
 * A string record takes at least 16 bytes, so no SPAWN that fits in
 * HATCH_MAX_MESSAGE can hold more ARG (or ENV) records than the inline arrays:
 * these are never the limit a caller meets.
 */
#define HATCH_MAX_INLINE_ARGS (HATCH_MAX_MESSAGE / 16u)
#define HATCH_MAX_INLINE_ENV (HATCH_MAX_MESSAGE / 16u)
/*
 * Largest args file (HATCH_TAG_ARGS_FD). execve takes at most 6 MiB of
 * strings plus one 8-byte pointer each (3/4 of _STK_LIM, whatever the stack
 * rlimit); a string of n bytes (NUL included) is a record of at most n + 15
 * bytes, so anything the kernel could accept is at most 16/9 * 6 MiB =
 * 10.7 MiB of records. 16 MiB refuses nothing execve would take.
 */
#define HATCH_MAX_ARGS_FILE (16u * 1024u * 1024u)
#define HATCH_MAX_RLIMITS 16u
#define HATCH_MAX_LANDLOCK_PATHS 256u
#define HATCH_MAX_LANDLOCK_PORTS 64u
#define HATCH_MAX_SECCOMP_INSNS 4096u
#define HATCH_MAX_CHILDREN 256u
#define HATCH_MAX_MOUNT_OPS 512u /* room to preserve and restore every Landlock path */

struct hatch_header {
  uint16_t type;        /* enum hatch_msg_type */
  uint16_t flags;       /* must be 0 */
  uint32_t id;          /* request id chosen by Node; replies echo it; 0 = none */
  uint32_t body_length; /* bytes after the header */
};

enum hatch_msg_type {
  /* Node -> zygote. body: u32 version, u32 idle_timeout_ms (0 = never idle-exit) */
  HATCH_MSG_HELLO = 1,
  /* zygote -> Node. body: u32 version, u32 zygote_pid, u32 max_message, u32 max_children */
  HATCH_MSG_HELLO_OK = 2,
  /* Node -> zygote. body: TLV records (enum hatch_tag); 3 fds: stdin, stdout, stderr,
   * and a 4th, the args file, exactly when the body has a HATCH_TAG_ARGS_FD record */
  HATCH_MSG_SPAWN = 3,
  /* zygote -> Node, once the child has exec'd. body: u32 pid; 1 fd: the child's pidfd */
  HATCH_MSG_SPAWNED = 4,
  /* zygote -> Node. body: u32 stage (enum hatch_stage), i32 errno. No EXIT follows. */
  HATCH_MSG_SPAWN_FAILED = 5,
  /* zygote -> Node, after wait4(pid). body: struct hatch_exit_body */
  HATCH_MSG_EXIT = 6,
  /* Node -> zygote. body: u32 signo, u32 scope (enum hatch_signal_scope). id = spawn id */
  HATCH_MSG_SIGNAL = 7,
  /* Node -> zygote and back. body: u64 token, echoed in PONG */
  HATCH_MSG_PING = 8,
  HATCH_MSG_PONG = 9,
  /* zygote -> Node. body: u32 code (enum hatch_error_code), then UTF-8 text (no NUL) */
  HATCH_MSG_ERROR = 10,
  /* zygote -> Node, for a SPAWN with HATCH_SPAWN_TRACE, right before its SPAWN_FAILED or EXIT.
   * body: u32 count, u32 reserved, then count struct hatch_trace_entry, in event order */
  HATCH_MSG_TRACE = 11,
};

enum hatch_error_code {
  HATCH_ERR_MALFORMED = 1,   /* header, TLV or string does not parse */
  HATCH_ERR_OVERSIZED = 2,   /* datagram larger than HATCH_MAX_MESSAGE, or truncated */
  HATCH_ERR_VERSION = 3,     /* HELLO with an unsupported version; zygote exits after */
  HATCH_ERR_UNKNOWN_TYPE = 4,
  HATCH_ERR_NO_SUCH_CHILD = 5, /* SIGNAL for an id that is not running */
  HATCH_ERR_TOO_MANY_CHILDREN = 6,
  HATCH_ERR_BAD_FDS = 7,     /* wrong number of fds for the message type, or an args fd that is not a sealed memfd */
  HATCH_ERR_NOT_READY = 8,   /* anything but HELLO before the handshake */
};

/* The stage a child was in when setup failed. Order follows docs/ARCHITECTURE.md. */
enum hatch_stage {
  HATCH_STAGE_CLONE = 1,     /* zygote-side: mapping the args file, pipe2 or clone3 failed */
  HATCH_STAGE_SIGNALS = 2,
  HATCH_STAGE_SETSID = 3,
  HATCH_STAGE_PDEATHSIG = 4,
  HATCH_STAGE_STDIO = 5,
  HATCH_STAGE_CLOSE_FDS = 6,
  HATCH_STAGE_USERNS = 7,
  HATCH_STAGE_MOUNT = 8,
  HATCH_STAGE_CWD = 9,
  HATCH_STAGE_RLIMITS = 10,
  HATCH_STAGE_CREDENTIALS = 11,
  HATCH_STAGE_NO_NEW_PRIVS = 12,
  HATCH_STAGE_LANDLOCK = 13,
  HATCH_STAGE_SECCOMP = 14,
  HATCH_STAGE_EXEC = 15,
  HATCH_STAGE_INIT = 16,     /* the pid-namespace init could not fork the program (e.g. EAGAIN) */
};

enum hatch_signal_scope {
  HATCH_SCOPE_PROCESS = 0,    /* the child only */
  HATCH_SCOPE_TREE = 1,       /* the child's whole tree, signo as given */
  HATCH_SCOPE_TREE_ESCALATE = 2, /* signo to the tree, then SIGKILL after the spawn's grace_ms */
};

/*
 * With CLONE_NEWPID the child is a small init (pid 1) that runs the program as
 * pid 2. A signal the zygote sends to the init with si_code SI_QUEUE and this
 * si_value goes to the whole namespace; any other signal to the program only.
 */
#define HATCH_TREE_SIGNAL_COOKIE 0x68746368 /* "htch" */

/* HATCH_MSG_EXIT reason bits */
#define HATCH_EXIT_TIMED_OUT 1u      /* the wall timeout fired */
#define HATCH_EXIT_KILL_REQUESTED 2u /* a TREE / TREE_ESCALATE signal was requested */
#define HATCH_EXIT_ESCALATED 4u      /* SIGKILL was sent after the grace period */
#define HATCH_EXIT_TMP_FULL 8u       /* the private tmpfs had no free blocks or inodes when the program ended */
#define HATCH_EXIT_KNOWN_REASONS 15u

struct hatch_exit_body {          /* 48 bytes */
  int32_t exit_code;              /* -1 when killed by a signal */
  int32_t term_signal;            /* 0 when it exited */
  uint32_t reasons;               /* HATCH_EXIT_* bits */
  uint32_t reserved;
  uint64_t user_cpu_us;
  uint64_t sys_cpu_us;
  uint64_t max_rss_bytes;
  uint64_t wall_us;
};

/*
 * SPAWN body: a sequence of records, each
 *   u16 tag, u16 reserved (0), u32 length, then length bytes of value,
 *   then zero padding up to the next multiple of 8.
 * Strings are NUL-terminated inside their length, with no other NUL.
 */
#define HATCH_TLV_HEADER_SIZE 8u
#define HATCH_TLV_ALIGN 8u

enum hatch_tag {
  HATCH_TAG_FILE = 1,       /* string, exactly once: path to execve */
  HATCH_TAG_ARG = 2,        /* string, repeated in argv order (argv[0] included) */
  HATCH_TAG_ENV = 3,        /* string "NAME=value", repeated; the whole environment */
  HATCH_TAG_CWD = 4,        /* string, at most once */
  HATCH_TAG_RLIMIT = 5,     /* struct hatch_rlimit_value, repeated */
  HATCH_TAG_TIMEOUT = 6,    /* struct hatch_timeout_value, at most once */
  HATCH_TAG_FLAGS = 7,      /* u32 HATCH_SPAWN_* bits, at most once */
  HATCH_TAG_CREDENTIALS = 8,/* u32 uid, u32 gid: drop to these before no_new_privs */
  HATCH_TAG_NAMESPACES = 9, /* struct hatch_namespaces_value, at most once */
  HATCH_TAG_LANDLOCK_RULESET = 10, /* struct hatch_landlock_ruleset_value, at most once */
  HATCH_TAG_LANDLOCK_PATH = 11,    /* u64 allowed_access, then string path; repeated */
  HATCH_TAG_LANDLOCK_PORT = 12,    /* u64 allowed_access, u64 port; repeated */
  HATCH_TAG_SECCOMP = 13,   /* struct sock_filter[]; length % 8 == 0, at most once */
  /* u32 op (enum hatch_mount_op), u32 reserved, then string path; repeated, applied in order */
  HATCH_TAG_MOUNT_OP = 14,
  HATCH_TAG_PRIVATE_TMP = 15, /* struct hatch_private_tmp_value, then string path; at most once; needs CLONE_NEWNS */
  HATCH_TAG_INIT_SECCOMP = 16, /* struct sock_filter[] for the pid-namespace init; at most once */
  /* u64 length of the args file (the SPAWN's 4th fd); at most once, then no ARG or ENV in the body */
  HATCH_TAG_ARGS_FD = 17,
};

/*
 * The args file: a memfd sealed with at least F_SEAL_SHRINK | F_SEAL_GROW |
 * F_SEAL_WRITE (so it can change neither size nor bytes while mapped), whose
 * size is exactly the ARGS_FD length: a multiple of 8, from 16 to
 * HATCH_MAX_ARGS_FILE. It holds ARG and ENV records only, in the body's record
 * format and under the same rules, at least one ARG. Anything else in it, or
 * a size that disagrees, is HATCH_ERR_MALFORMED; an fd that is not a sealed
 * regular file is HATCH_ERR_BAD_FDS; one the zygote cannot map is
 * SPAWN_FAILED at HATCH_STAGE_CLONE with the errno. The zygote maps it
 * read-only before clone and unmaps it right after; the child keeps its own
 * copy of the mapping until execve (a pid-namespace init, until the program
 * has exec'd).
 */
#define HATCH_ARGS_FILE_SEALS_REQUIRED 0x000eu /* F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE */

/*
 * Mount operations, applied in plan order after the /proc remount (needs
 * CLONE_NEWNS). Paths are absolute. A path the child cannot reach is skipped.
 */
enum hatch_mount_op {
  HATCH_MOUNT_PRESERVE = 1,     /* clone the tree at path (open_tree) before something hides it */
  HATCH_MOUNT_HIDE = 2,         /* an empty read-only tmpfs over path */
  HATCH_MOUNT_RESTORE = 3,      /* the n-th preserved tree back at its path, inside what hides it */
  HATCH_MOUNT_READONLY_ALL = 4, /* every mount at and below path read-only */
  HATCH_MOUNT_BIND_RW = 5,      /* path (bound onto itself) writable again */
};

#define HATCH_SPAWN_NO_NEW_PRIVS 1u
/* FILE has no '/': search PATH (from the plan's env, else /usr/local/bin:/usr/bin:/bin) in the child, after the sandbox is applied, like execvpe. */
#define HATCH_SPAWN_SEARCH_PATH 2u
/* umask 077 before exec: files one operation makes are not readable by another's uid. */
#define HATCH_SPAWN_PRIVATE_UMASK 4u
/* Instead of execve, remove the directory tree at FILE (never following a link), then exit 0 or 1. */
#define HATCH_SPAWN_REMOVE_TREE 8u
/* When the child is gone, kill every process of the CREDENTIALS uid (a uid of its own, no pid namespace). */
#define HATCH_SPAWN_KILL_UID 16u
/* Record when each step of this spawn happened and send them in a HATCH_MSG_TRACE (npm run bench -- --stages). */
#define HATCH_SPAWN_TRACE 32u
#define HATCH_SPAWN_KNOWN_FLAGS 63u

/*
 * Trace events: CLOCK_MONOTONIC nanoseconds (the clock Node's
 * process.hrtime.bigint() reads), each the moment a step ended. Zygote-side
 * events, then the child's: HATCH_TRACE_STAGE_BASE + an enum hatch_stage, the
 * moment that setup stage succeeded (HATCH_STAGE_CLONE: the child's first
 * instruction; HATCH_STAGE_EXEC: the init saw the program's execve succeed).
 */
enum hatch_trace_event {
  HATCH_TRACE_RECEIVED = 1, /* the zygote read the SPAWN datagram */
  HATCH_TRACE_PARSED = 2, /* the plan is parsed and checked, the args file mapped */
  HATCH_TRACE_CLONED = 3, /* clone3 returned in the zygote */
  HATCH_TRACE_ID_MAPS = 4, /* the zygote wrote the child's user-namespace id maps */
  HATCH_TRACE_EXEC_SEEN = 5, /* the zygote learned that the program exec'd (EOF or the init's EXEC_OK) */
  HATCH_TRACE_SPAWNED_SENT = 6, /* SPAWNED sent */
  HATCH_TRACE_EXIT_SEEN = 7, /* the child's pidfd became readable */
  HATCH_TRACE_REAPED = 8, /* wait4 returned and the child's last reports are read */
  HATCH_TRACE_REARMED = 9, /* child: the parent-death signal re-armed after the credentials changed */
  HATCH_TRACE_INIT_READY = 10, /* init: about to start the program (pid 2) */
  HATCH_TRACE_PROGRAM_REAPED = 11, /* init: the program's exit status is in */
  HATCH_TRACE_STAGE_BASE = 32,
  HATCH_TRACE_EVENTS = 64, /* every event is below this */
};

struct hatch_trace_entry { /* 16 bytes */
  uint32_t event; /* enum hatch_trace_event */
  uint32_t reserved;
  uint64_t ns;
};

struct hatch_rlimit_value { /* 24 bytes */
  uint32_t resource; /* RLIMIT_* */
  uint32_t reserved;
  uint64_t soft; /* UINT64_MAX = RLIM_INFINITY */
  uint64_t hard;
};

struct hatch_timeout_value { /* 16 bytes */
  uint32_t timeout_ms; /* wall time from exec; 0 = none */
  uint32_t grace_ms; /* after the term signal, before SIGKILL of the tree */
  uint32_t term_signal; /* sent first when the timeout fires */
  uint32_t reserved;
};

struct hatch_namespaces_value { /* 16 bytes */
  uint32_t clone_flags; /* CLONE_NEWUSER | CLONE_NEWPID | ... */
  uint32_t inside_uid; /* the uid/gid seen inside a new user namespace */
  uint32_t inside_gid;
  uint32_t options; /* HATCH_NS_* bits */
};
#define HATCH_NS_MOUNT_PROC 1u /* remount /proc for the new pid namespace */

struct hatch_private_tmp_value { /* 24 bytes, then the NUL-terminated mount point (/tmp, or /var/tmp) */
  uint64_t size_bytes;
  uint64_t inodes;
  uint32_t flags; /* HATCH_PRIVATE_TMP_* */
  uint32_t reserved;
};
#define HATCH_PRIVATE_TMP_SHM 1u /* bind the same tmpfs over /dev/shm too (one quota for both) */

struct hatch_landlock_ruleset_value { /* 32 bytes */
  uint32_t abi; /* ABI the plan was built for */
  uint32_t reserved;
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

#endif
