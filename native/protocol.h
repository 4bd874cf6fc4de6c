/*
 * hatchery wire protocol between Node (src/protocol/wire.ts) and the zygote.
 *
 * Every number of the protocol is written once, in native/protocol.json;
 * protocol_generated.h (C) and src/protocol/constants.generated.ts (TypeScript)
 * are generated from it by scripts/protocol.mjs, with names that match one to
 * one (HATCH_MSG_SPAWN <-> MessageType.Spawn). This header keeps the structs,
 * whose sizes and offsets are checked below against the generated sizes, and
 * the rules in prose. test/fixtures/protocol/ holds golden messages that both
 * native/test/protocol_golden.c and test/protocol.test.ts check.
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

#include <stddef.h>
#include <stdint.h>

#include "protocol_generated.h"

/*
 * Bounds on one spawn plan (HATCH_MAX_*); the zygote keeps static arrays of
 * these sizes. A string record takes at least 16 bytes, so no SPAWN that fits
 * in HATCH_MAX_MESSAGE can hold more ARG (or ENV) records than the inline
 * arrays: HATCH_MAX_INLINE_ARGS and _ENV are never the limit a caller meets.
 *
 * Largest args file (HATCH_MAX_ARGS_FILE). execve takes at most 6 MiB of
 * strings plus one 8-byte pointer each (3/4 of _STK_LIM, whatever the stack
 * rlimit); a string of n bytes (NUL included) is a record of at most n + 15
 * bytes, so anything the kernel could accept is at most 16/9 * 6 MiB =
 * 10.7 MiB of records. 16 MiB refuses nothing execve would take.
 */

struct hatch_header {
  uint16_t type;        /* enum hatch_msg_type */
  uint16_t flags;       /* must be 0 */
  uint32_t id;          /* request id chosen by Node; replies echo it; 0 = none */
  uint32_t body_length; /* bytes after the header */
};

/*
 * With CLONE_NEWPID the child is a small init (pid 1) that runs the program as
 * pid 2. A signal the zygote sends to the init with si_code SI_QUEUE and
 * HATCH_TREE_SIGNAL_COOKIE as si_value goes to the whole namespace; any other
 * signal to the program only.
 */

struct hatch_exit_body {          /* HATCH_EXIT_BODY_SIZE bytes */
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
 * SPAWN body: a sequence of records (enum hatch_tag), each
 *   u16 tag, u16 reserved (0), u32 length, then length bytes of value,
 *   then zero padding up to the next multiple of HATCH_TLV_ALIGN.
 * Strings are NUL-terminated inside their length, with no other NUL.
 *
 * The args file: a memfd sealed with at least HATCH_ARGS_FILE_SEALS_REQUIRED
 * (so it can change neither size nor bytes while mapped), whose size is
 * exactly the ARGS_FD length: a multiple of 8, from 16 to
 * HATCH_MAX_ARGS_FILE. It holds ARG and ENV records only, in the body's record
 * format and under the same rules, at least one ARG. Anything else in it, or
 * a size that disagrees, is HATCH_ERR_MALFORMED; an fd that is not a sealed
 * regular file is HATCH_ERR_BAD_FDS; one the zygote cannot map is
 * SPAWN_FAILED at HATCH_STAGE_CLONE with the errno. The zygote maps it
 * read-only before clone and unmaps it right after; the child keeps its own
 * copy of the mapping until execve (a pid-namespace init, until the program
 * has exec'd).
 *
 * Mount operations (enum hatch_mount_op) are applied in plan order after the
 * /proc remount (needs CLONE_NEWNS). Paths are absolute. A path the child
 * cannot reach is skipped.
 */

struct hatch_rlimit_value { /* HATCH_RLIMIT_VALUE_SIZE bytes */
  uint32_t resource;        /* RLIMIT_* */
  uint32_t reserved;
  uint64_t soft; /* UINT64_MAX = RLIM_INFINITY */
  uint64_t hard;
};

struct hatch_timeout_value { /* HATCH_TIMEOUT_VALUE_SIZE bytes */
  uint32_t timeout_ms;       /* wall time from exec; 0 = none */
  uint32_t grace_ms;         /* after the term signal, before SIGKILL of the tree */
  uint32_t term_signal;      /* sent first when the timeout fires */
  uint32_t reserved;
};

struct hatch_namespaces_value { /* HATCH_NAMESPACES_VALUE_SIZE bytes */
  uint32_t clone_flags;         /* CLONE_NEWUSER | CLONE_NEWPID | ... */
  uint32_t inside_uid;          /* the uid/gid seen inside a new user namespace */
  uint32_t inside_gid;
  uint32_t options; /* HATCH_NS_* bits */
};

struct hatch_private_tmp_value { /* HATCH_PRIVATE_TMP_VALUE_SIZE bytes, then the mount point (/tmp, or /var/tmp) */
  uint64_t size_bytes;
  uint64_t inodes;
  uint32_t flags; /* HATCH_PRIVATE_TMP_* */
  uint32_t reserved;
};

struct hatch_landlock_ruleset_value { /* HATCH_LANDLOCK_RULESET_VALUE_SIZE bytes */
  uint32_t abi;                       /* ABI the plan was built for */
  uint32_t reserved;
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};

/* The structs are the wire layout (little endian): their sizes are the generated ones, their offsets these. */
#define HATCH_ASSERT_FIELD(type, field, offset) \
  _Static_assert(offsetof(struct type, field) == (offset), #type "." #field " is at byte " #offset " on the wire")
_Static_assert(sizeof(struct hatch_header) == HATCH_HEADER_SIZE, "struct hatch_header is the wire header");
HATCH_ASSERT_FIELD(hatch_header, flags, 2);
HATCH_ASSERT_FIELD(hatch_header, id, 4);
HATCH_ASSERT_FIELD(hatch_header, body_length, 8);
_Static_assert(sizeof(struct hatch_exit_body) == HATCH_EXIT_BODY_SIZE, "struct hatch_exit_body is the EXIT body");
HATCH_ASSERT_FIELD(hatch_exit_body, term_signal, 4);
HATCH_ASSERT_FIELD(hatch_exit_body, reasons, 8);
HATCH_ASSERT_FIELD(hatch_exit_body, user_cpu_us, 16);
HATCH_ASSERT_FIELD(hatch_exit_body, sys_cpu_us, 24);
HATCH_ASSERT_FIELD(hatch_exit_body, max_rss_bytes, 32);
HATCH_ASSERT_FIELD(hatch_exit_body, wall_us, 40);
_Static_assert(sizeof(struct hatch_rlimit_value) == HATCH_RLIMIT_VALUE_SIZE, "struct hatch_rlimit_value is the record");
HATCH_ASSERT_FIELD(hatch_rlimit_value, soft, 8);
HATCH_ASSERT_FIELD(hatch_rlimit_value, hard, 16);
_Static_assert(sizeof(struct hatch_timeout_value) == HATCH_TIMEOUT_VALUE_SIZE,
               "struct hatch_timeout_value is the record");
HATCH_ASSERT_FIELD(hatch_timeout_value, grace_ms, 4);
HATCH_ASSERT_FIELD(hatch_timeout_value, term_signal, 8);
HATCH_ASSERT_FIELD(hatch_timeout_value, reserved, 12);
_Static_assert(sizeof(struct hatch_namespaces_value) == HATCH_NAMESPACES_VALUE_SIZE,
               "struct hatch_namespaces_value is the record");
HATCH_ASSERT_FIELD(hatch_namespaces_value, inside_uid, 4);
HATCH_ASSERT_FIELD(hatch_namespaces_value, inside_gid, 8);
HATCH_ASSERT_FIELD(hatch_namespaces_value, options, 12);
_Static_assert(sizeof(struct hatch_private_tmp_value) == HATCH_PRIVATE_TMP_VALUE_SIZE,
               "struct hatch_private_tmp_value is the record before its path");
HATCH_ASSERT_FIELD(hatch_private_tmp_value, inodes, 8);
HATCH_ASSERT_FIELD(hatch_private_tmp_value, flags, 16);
_Static_assert(sizeof(struct hatch_landlock_ruleset_value) == HATCH_LANDLOCK_RULESET_VALUE_SIZE,
               "struct hatch_landlock_ruleset_value is the record");
HATCH_ASSERT_FIELD(hatch_landlock_ruleset_value, handled_access_fs, 8);
HATCH_ASSERT_FIELD(hatch_landlock_ruleset_value, handled_access_net, 16);
HATCH_ASSERT_FIELD(hatch_landlock_ruleset_value, scoped, 24);
_Static_assert(HATCH_MAX_FDS_PER_MESSAGE >= 4, "a SPAWN carries stdin, stdout, stderr and the args file");
_Static_assert(HATCH_MAX_ARGS_FILE % HATCH_TLV_ALIGN == 0, "an args file is whole records");

#endif
