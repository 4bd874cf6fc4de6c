/*
 * Golden bytes for native/wire.c. The golden messages in test/fixtures/protocol/
 * (read at run time; the directory is argv[1], by default the checkout's) are the ones test/protocol.test.ts checks too: here the
 * parser must read every request and the encoders write every reply byte for
 * byte. The byte arrays below pin what no fixture shows (refusals, limits).
 * Prints "N passed, M failed"; exits nonzero on failure.
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../plan.h"
#include "../protocol.h"
#include "../wire.h"

/* Little-endian byte lists, so records read like the header comments. */
#define B16(v) (uint8_t)((v) & 0xff), (uint8_t)(((v) >> 8) & 0xff)
#define B32(v) B16((v) & 0xffff), B16(((v) >> 16) & 0xffff)
#define B64(v) B32((uint64_t)(v) & 0xffffffffu), B32(((uint64_t)(v) >> 32) & 0xffffffffu)
#define HDR(type, id, len) B16(type), B16(0), B32(id), B32(len)
#define TLV(tag, len) B16(tag), B16(0), B32(len)

static unsigned passed, failed;
static struct hatch_plan plan;
static uint8_t big[HATCH_MAX_MESSAGE + 64] __attribute__((aligned(8)));

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL: %s\n", what);
  }
}

static int check_datagram(const uint8_t *buf, size_t n, unsigned nfds, struct hatch_header *h) {
  const char *why = NULL;
  int rc = hatch_check_datagram(buf, n, 0, 0, nfds, h, &why);
  if (rc != 0 && why == NULL) return -1;
  return rc;
}

static int parse_spawn_fds(const uint8_t *msg, size_t n, unsigned nfds) {
  struct hatch_header h;
  int rc = check_datagram(msg, n, nfds, &h);
  if (rc != 0) return rc;
  const char *why = NULL;
  return hatch_parse_spawn(msg + HATCH_HEADER_SIZE, h.body_length, nfds, &plan, &why);
}

static int parse_spawn(const uint8_t *msg, size_t n) { return parse_spawn_fds(msg, n, 3); }

static void test_hello(void) {
  static const uint8_t hello[] = {0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00,
                                  0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00};
  struct hatch_header h;
  const char *why;
  uint32_t version = 0, idle = 0;
  check(check_datagram(hello, sizeof hello, 0, &h) == 0, "HELLO header accepted");
  check(h.type == HATCH_MSG_HELLO && h.id == 0 && h.body_length == 8, "HELLO header fields");
  check(hatch_parse_hello(hello + 12, 8, &version, &idle, &why) == 0, "HELLO body parses");
  check(version == 1 && idle == 1000, "HELLO version 1, idle 1000 ms");
  check(hatch_parse_hello(hello + 12, 7, &version, &idle, &why) == HATCH_ERR_MALFORMED, "HELLO short body refused");
}

// clang-format off: one record a row
static const uint8_t spawn_msg[] = {
    HDR(HATCH_MSG_SPAWN, 0x01020304, 160),
    TLV(HATCH_TAG_FILE, 10), '/', 'b', 'i', 'n', '/', 'e', 'c', 'h', 'o', 0, 0, 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_ARG, 5), 'e', 'c', 'h', 'o', 0, 0, 0, 0,
    TLV(HATCH_TAG_ARG, 3), 'h', 'i', 0, 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_CWD, 5), '/', 't', 'm', 'p', 0, 0, 0, 0,
    TLV(HATCH_TAG_RLIMIT, 24), B32(7), B32(0), B64(64), B64(UINT64_MAX),
    TLV(HATCH_TAG_TIMEOUT, 16), B32(1000), B32(500), B32(15), B32(0),
    TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_NO_NEW_PRIVS), 0, 0, 0, 0,
};
// clang-format on

static void test_spawn(void) {
  struct hatch_header h;
  check(sizeof spawn_msg == 12 + 160, "SPAWN golden length");
  check(check_datagram(spawn_msg, sizeof spawn_msg, 3, &h) == 0 && h.id == 0x01020304, "SPAWN header");
  check(parse_spawn(spawn_msg, sizeof spawn_msg) == 0, "SPAWN parses");
  check(plan.file && strcmp(plan.file, "/bin/echo") == 0, "SPAWN file");
  check(plan.argc == 2 && strcmp(plan.argv[0], "echo") == 0 && strcmp(plan.argv[1], "hi") == 0 && plan.argv[2] == NULL,
        "SPAWN argv");
  check(plan.envc == 1 && strcmp(plan.envp[0], "A=1") == 0 && plan.envp[1] == NULL, "SPAWN envp");
  check(plan.cwd && strcmp(plan.cwd, "/tmp") == 0, "SPAWN cwd");
  check(plan.rlimit_count == 1 && plan.rlimits[0].resource == 7 && plan.rlimits[0].soft == 64 &&
            plan.rlimits[0].hard == UINT64_MAX,
        "SPAWN rlimit");
  check(plan.has_timeout && plan.timeout.timeout_ms == 1000 && plan.timeout.grace_ms == 500 &&
            plan.timeout.term_signal == 15,
        "SPAWN timeout");
  check(plan.flags == HATCH_SPAWN_NO_NEW_PRIVS, "SPAWN flags");
  check(!plan.has_credentials && !plan.has_namespaces && !plan.has_landlock && plan.seccomp_filter == NULL,
        "SPAWN absent records stay absent");
  check(check_datagram(spawn_msg, sizeof spawn_msg, 2, &h) == HATCH_ERR_BAD_FDS, "SPAWN with 2 fds refused");
}

static void test_signal_ping(void) {
  static const uint8_t sig[] = {0x07, 0x00, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x08, 0x00,
                                0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00};
  static const uint8_t ping[] = {0x08, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x08, 0x00,
                                 0x00, 0x00, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  struct hatch_header h;
  const char *why;
  uint32_t signo = 0, scope = 0;
  uint64_t token = 0;
  check(check_datagram(sig, sizeof sig, 0, &h) == 0 && h.type == HATCH_MSG_SIGNAL && h.id == 42, "SIGNAL header");
  check(hatch_parse_signal(sig + 12, 8, &signo, &scope, &why) == 0 && signo == 9 && scope == HATCH_SCOPE_TREE_ESCALATE,
        "SIGNAL body");
  static const uint8_t bad_scope[8] = {B32(9), B32(3)};
  check(hatch_parse_signal(bad_scope, 8, &signo, &scope, &why) == HATCH_ERR_MALFORMED, "SIGNAL unknown scope refused");
  check(check_datagram(ping, sizeof ping, 0, &h) == 0 && h.type == HATCH_MSG_PING && h.id == 5, "PING header");
  check(hatch_parse_ping(ping + 12, 8, &token, &why) == 0 && token == 0x0102030405060708ull, "PING token");
  check(check_datagram(ping, sizeof ping, 1, &h) == HATCH_ERR_BAD_FDS, "PING with an fd refused");
}

static void test_bad_headers(void) {
  static const uint8_t ping[] = {HDR(HATCH_MSG_PING, 9, 8), B64(1)};
  static const uint8_t flagged[] = {B16(HATCH_MSG_PING), B16(1), B32(9), B32(8), B64(1)};
  static const uint8_t wrong_len[] = {HDR(HATCH_MSG_PING, 9, 9), B64(1)};
  static const uint8_t unknown[] = {HDR(99, 9, 0)};
  static const uint8_t reply_type[] = {HDR(HATCH_MSG_PONG, 9, 8), B64(1)};
  struct hatch_header h;
  const char *why;
  check(check_datagram(ping, 11, 0, &h) == HATCH_ERR_MALFORMED && h.id == 0, "short header refused");
  check(check_datagram(ping, 0, 0, &h) == HATCH_ERR_MALFORMED, "empty datagram refused");
  check(check_datagram(wrong_len, sizeof wrong_len, 0, &h) == HATCH_ERR_MALFORMED && h.id == 9,
        "body_length mismatch refused, id kept");
  check(check_datagram(ping, sizeof ping - 1, 0, &h) == HATCH_ERR_MALFORMED, "cut body refused");
  check(check_datagram(flagged, sizeof flagged, 0, &h) == HATCH_ERR_MALFORMED, "nonzero flags refused");
  check(check_datagram(unknown, sizeof unknown, 0, &h) == HATCH_ERR_UNKNOWN_TYPE, "unknown type refused");
  check(check_datagram(reply_type, sizeof reply_type, 0, &h) == HATCH_ERR_UNKNOWN_TYPE,
        "reply type as request refused");
  check(hatch_check_datagram(ping, sizeof ping, 1, 0, 0, &h, &why) == HATCH_ERR_OVERSIZED, "MSG_TRUNC refused");
  check(hatch_check_datagram(ping, sizeof ping, 0, 1, 0, &h, &why) == HATCH_ERR_BAD_FDS, "MSG_CTRUNC refused");
  memset(big, 0, sizeof big);
  memcpy(big, (const uint8_t[]){HDR(HATCH_MSG_PING, 9, HATCH_MAX_MESSAGE + 1 - 12)}, 12);
  check(check_datagram(big, HATCH_MAX_MESSAGE + 1, 0, &h) == HATCH_ERR_OVERSIZED, "oversized datagram refused");
}

/* Copies the golden SPAWN's first records (FILE, 2 ARGs = 56 body bytes) and appends `tail`. */
static size_t spawn_with(const uint8_t *tail, size_t tail_len) {
  size_t body = 56 + tail_len;
  memcpy(big, spawn_msg, 12 + 56);
  if (tail_len) memcpy(big + 68, tail, tail_len);
  const uint8_t hdr[] = {HDR(HATCH_MSG_SPAWN, 3, body)};
  memcpy(big, hdr, sizeof hdr);
  return 12 + body;
}

#define SPAWN_REFUSED(what, ...)                                                  \
  do {                                                                            \
    static const uint8_t tail_[] = {__VA_ARGS__};                                 \
    size_t n_ = spawn_with(tail_, sizeof tail_);                                  \
    check(parse_spawn(big, n_) == HATCH_ERR_MALFORMED, "SPAWN " what " refused"); \
  } while (0)

static void test_bad_spawns(void) {
  check(parse_spawn(big, spawn_with(NULL, 0)) == 0, "SPAWN with FILE and ARGs only parses");
  SPAWN_REFUSED("unknown tag", TLV(99, 0));
  SPAWN_REFUSED("tag 0", TLV(0, 0));
  SPAWN_REFUSED("string without NUL", TLV(HATCH_TAG_ENV, 3), 'A', '=', '1', 0, 0, 0, 0, 0);
  SPAWN_REFUSED("string with inner NUL", TLV(HATCH_TAG_ENV, 4), 'A', 0, '1', 0, 0, 0, 0, 0);
  SPAWN_REFUSED("empty string", TLV(HATCH_TAG_ENV, 0));
  SPAWN_REFUSED("TLV length past the end", TLV(HATCH_TAG_ENV, 9), 'A', '=', '1', 0, 0, 0, 0, 0);
  SPAWN_REFUSED("TLV length 4 GiB", TLV(HATCH_TAG_ENV, 0xffffffffu), 'A', 0, 0, 0, 0, 0, 0, 0);
  SPAWN_REFUSED("truncated TLV header", B16(HATCH_TAG_ENV), B16(0));
  SPAWN_REFUSED("nonzero padding", TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0, 0, 0, 1, 0);
  SPAWN_REFUSED("missing padding", TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0);
  SPAWN_REFUSED("nonzero TLV reserved", B16(HATCH_TAG_ENV), B16(1), B32(4), 'A', '=', '1', 0, 0, 0, 0, 0);
  SPAWN_REFUSED("second FILE", TLV(HATCH_TAG_FILE, 2), 'x', 0, 0, 0, 0, 0, 0, 0);
  SPAWN_REFUSED("second CWD", TLV(HATCH_TAG_CWD, 2), '/', 0, 0, 0, 0, 0, 0, 0, TLV(HATCH_TAG_CWD, 2), '/', 0, 0, 0, 0,
                0, 0, 0);
  SPAWN_REFUSED("second FLAGS", TLV(HATCH_TAG_FLAGS, 4), B32(0), B32(0), TLV(HATCH_TAG_FLAGS, 4), B32(0), B32(0));
  SPAWN_REFUSED("unknown flag", TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_KNOWN_FLAGS + 1u), B32(0));
  SPAWN_REFUSED("short rlimit", TLV(HATCH_TAG_RLIMIT, 16), B64(0), B64(0));
  SPAWN_REFUSED("timeout with signal 0", TLV(HATCH_TAG_TIMEOUT, 16), B32(1), B32(1), B32(0), B32(0));
  SPAWN_REFUSED("seccomp length not a multiple of 8", TLV(HATCH_TAG_SECCOMP, 12), B64(0), B64(0));
  SPAWN_REFUSED("empty seccomp", TLV(HATCH_TAG_SECCOMP, 0));
  SPAWN_REFUSED("CLONE_VM in namespaces", TLV(HATCH_TAG_NAMESPACES, 16), B32(0x100), B32(0), B32(0), B32(0));
  SPAWN_REFUSED("Landlock path without ruleset", TLV(HATCH_TAG_LANDLOCK_PATH, 10), B64(1), '/', 0, 0, 0, 0, 0, 0, 0);
  SPAWN_REFUSED("exact Landlock path without ruleset", TLV(HATCH_TAG_LANDLOCK_PATH_EXACT, 10), B64(1), '/', 0, 0, 0, 0,
                0, 0, 0);
#define RULESET TLV(HATCH_TAG_LANDLOCK_RULESET, 32), B32(1), B32(0), B64(7), B64(0), B64(0)
  SPAWN_REFUSED("relative exact Landlock path", RULESET, TLV(HATCH_TAG_LANDLOCK_PATH_EXACT, 10), B64(1), 'x', 0, 0, 0,
                0, 0, 0, 0);
  // clang-format off: one record a row
  static const uint8_t exact_paths[] = {
      RULESET,
      TLV(HATCH_TAG_LANDLOCK_PATH, 10), B64(1), '/', 0, 0, 0, 0, 0, 0, 0,
      TLV(HATCH_TAG_LANDLOCK_PATH_EXACT, 10), B64(4), '/', 0, 0, 0, 0, 0, 0, 0,
  };
  // clang-format on
#undef RULESET
  check(parse_spawn(big, spawn_with(exact_paths, sizeof exact_paths)) == 0 && plan.landlock_path_count == 2 &&
            !plan.landlock_paths[0].exact && plan.landlock_paths[1].exact && plan.landlock_paths[1].allowed_access == 4,
        "SPAWN Landlock paths, plain and exact, in order");
  /* KILL_UID names an operation uid: its helper's killer uid is derived from it (native/child_table.c). */
  SPAWN_REFUSED("KILL_UID without credentials", TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_KILL_UID), B32(0));
  SPAWN_REFUSED("KILL_UID for uid 1000", TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_KILL_UID), B32(0),
                TLV(HATCH_TAG_CREDENTIALS, 8), B32(1000), B32(1000));
  SPAWN_REFUSED("KILL_UID for a uid past the operation range", TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_KILL_UID),
                B32(0), TLV(HATCH_TAG_CREDENTIALS, 8), B32(HATCH_KILLER_UID_BASE), B32(HATCH_KILLER_UID_BASE));
  static const uint8_t kill_uid_last[] = {
      TLV(HATCH_TAG_FLAGS, 4),       B32(HATCH_SPAWN_KILL_UID),      B32(0),
      TLV(HATCH_TAG_CREDENTIALS, 8), B32(HATCH_KILLER_UID_BASE - 1), B32(HATCH_KILLER_UID_BASE - 1)};
  check(parse_spawn(big, spawn_with(kill_uid_last, sizeof kill_uid_last)) == 0 && plan.uid == HATCH_KILLER_UID_BASE - 1,
        "SPAWN KILL_UID for the last operation uid parses");

  static const uint8_t no_file[] = {HDR(HATCH_MSG_SPAWN, 3, 16), TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0};
  check(parse_spawn(no_file, sizeof no_file) == HATCH_ERR_MALFORMED, "SPAWN without FILE refused");
  static const uint8_t no_arg[] = {HDR(HATCH_MSG_SPAWN, 3, 16), TLV(HATCH_TAG_FILE, 2), 'x', 0, 0, 0, 0, 0, 0, 0};
  check(parse_spawn(no_arg, sizeof no_arg) == HATCH_ERR_MALFORMED, "SPAWN without ARG refused");

  /* As many one-character arguments as fit in a datagram: never more than the inline arrays hold. */
  static const uint8_t arg[] = {TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0};
  size_t off = 12 + 16;
  memcpy(big + 12, no_arg + 12, 16);
  unsigned fitting = 0;
  for (; off + sizeof arg <= HATCH_MAX_MESSAGE; off += sizeof arg, fitting++) memcpy(big + off, arg, sizeof arg);
  const uint8_t hdr_ok[] = {HDR(HATCH_MSG_SPAWN, 3, off - 12)};
  memcpy(big, hdr_ok, 12);
  check(parse_spawn(big, off) == 0 && plan.argc == fitting && fitting <= HATCH_MAX_INLINE_ARGS,
        "SPAWN with as many arguments as fit in HATCH_MAX_MESSAGE parses");
  /* Past the inline arrays (only a body larger than any datagram can get there): refused, not overrun. */
  static uint8_t huge[16 + (HATCH_MAX_INLINE_ARGS + 1) * 16];
  memcpy(huge, no_arg + 12, 16);
  for (unsigned i = 0; i <= HATCH_MAX_INLINE_ARGS; i++) memcpy(huge + 16 + i * 16, arg, sizeof arg);
  const char *why = NULL;
  check(hatch_parse_spawn(huge, sizeof huge, 3, &plan, &why) == HATCH_ERR_MALFORMED,
        "SPAWN body with more arguments than the inline arrays refused");

  /* A largest valid seccomp program, then one instruction too many. */
  size_t prog = HATCH_MAX_SECCOMP_INSNS * 8u;
  const uint8_t seccomp_tlv[] = {TLV(HATCH_TAG_SECCOMP, prog)};
  memcpy(big + 12, no_arg + 12, 16);
  memcpy(big + 28, (const uint8_t[]){TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0}, 16);
  memcpy(big + 44, seccomp_tlv, 8);
  memset(big + 52, 0, prog + 8);
  const uint8_t hdr_sec[] = {HDR(HATCH_MSG_SPAWN, 3, 40 + prog)};
  memcpy(big, hdr_sec, 12);
  check(parse_spawn(big, 52 + prog) == 0 && plan.seccomp_insn_count == HATCH_MAX_SECCOMP_INSNS,
        "SPAWN with the largest seccomp program parses");
  const uint8_t seccomp_over[] = {TLV(HATCH_TAG_SECCOMP, prog + 8)};
  memcpy(big + 44, seccomp_over, 8);
  const uint8_t hdr_sec_over[] = {HDR(HATCH_MSG_SPAWN, 3, 40 + prog + 8)};
  memcpy(big, hdr_sec_over, 12);
  check(parse_spawn(big, 52 + prog + 8) == HATCH_ERR_MALFORMED, "SPAWN with too long a seccomp program refused");
}

/* The same bytes as 'SPAWN mount ops' in test/protocol.test.ts. */
// clang-format off: one record a row
static const uint8_t mount_msg[] = {
    HDR(HATCH_MSG_SPAWN, 4, 128),
    TLV(HATCH_TAG_FILE, 10), '/', 'b', 'i', 'n', '/', 't', 'r', 'u', 'e', 0, 0, 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_ARG, 5), 't', 'r', 'u', 'e', 0, 0, 0, 0,
    TLV(HATCH_TAG_FLAGS, 4), B32(0), 0, 0, 0, 0,
    TLV(HATCH_TAG_NAMESPACES, 16), B32(0x20000), B32(0), B32(0), B32(0),
    TLV(HATCH_TAG_MOUNT_OP, 13), B32(HATCH_MOUNT_HIDE), B32(0), '/', 't', 'm', 'p', 0, 0, 0, 0,
    TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_READONLY_ALL), B32(0), '/', 0, 0, 0, 0, 0, 0, 0,
};
// clang-format on

/* FILE, ARG, FLAGS, then NAMESPACES with CLONE_NEWNS (80 body bytes), then `tail`. */
static size_t mount_spawn_with(const uint8_t *tail, size_t tail_len) {
  size_t body = 80 + tail_len;
  memcpy(big, mount_msg, 12 + 80);
  if (tail_len) memcpy(big + 92, tail, tail_len);
  const uint8_t hdr[] = {HDR(HATCH_MSG_SPAWN, 4, body)};
  memcpy(big, hdr, sizeof hdr);
  return 12 + body;
}

#define MOUNT_REFUSED(what, ...)                                                  \
  do {                                                                            \
    static const uint8_t tail_[] = {__VA_ARGS__};                                 \
    size_t n_ = mount_spawn_with(tail_, sizeof tail_);                            \
    check(parse_spawn(big, n_) == HATCH_ERR_MALFORMED, "SPAWN " what " refused"); \
  } while (0)

static void test_mount_ops(void) {
  check(sizeof mount_msg == 12 + 128, "SPAWN mount ops golden length");
  check(parse_spawn(mount_msg, sizeof mount_msg) == 0, "SPAWN mount ops parse");
  check(plan.has_namespaces && plan.namespaces.clone_flags == 0x20000, "SPAWN mount ops namespaces");
  check(plan.mount_op_count == 2 && plan.mount_ops[0].op == HATCH_MOUNT_HIDE &&
            strcmp(plan.mount_ops[0].path, "/tmp") == 0 && plan.mount_ops[1].op == HATCH_MOUNT_READONLY_ALL &&
            strcmp(plan.mount_ops[1].path, "/") == 0,
        "SPAWN mount ops in order");
  check(parse_spawn(spawn_msg, sizeof spawn_msg) == 0 && plan.mount_op_count == 0, "SPAWN without mount ops has none");

  MOUNT_REFUSED("mount op 0", TLV(HATCH_TAG_MOUNT_OP, 10), B32(0), B32(0), '/', 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op 6", TLV(HATCH_TAG_MOUNT_OP, 10), B32(6), B32(0), '/', 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op HIDE with the EXACT flag", TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_HIDE),
                B32(HATCH_MOUNT_OP_EXACT), '/', 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op with an unknown flag", TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_BIND_RW),
                B32(HATCH_MOUNT_OP_EXACT << 1), '/', 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op with a relative path", TLV(HATCH_TAG_MOUNT_OP, 10), B32(2), B32(0), 'x', 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op with an empty path", TLV(HATCH_TAG_MOUNT_OP, 9), B32(2), B32(0), 0, 0, 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("mount op without a NUL", TLV(HATCH_TAG_MOUNT_OP, 10), B32(2), B32(0), '/', 'x', 0, 0, 0, 0, 0, 0);
  MOUNT_REFUSED("short mount op", TLV(HATCH_TAG_MOUNT_OP, 4), B32(2), 0, 0, 0, 0);

  /* EXACT on PRESERVE and BIND_RW: kept per op. */
  // clang-format off: one record a row
  static const uint8_t exact_ops[] = {
      TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_PRESERVE), B32(HATCH_MOUNT_OP_EXACT), '/', 0, 0, 0, 0, 0, 0, 0,
      TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_BIND_RW), B32(0), '/', 0, 0, 0, 0, 0, 0, 0,
      TLV(HATCH_TAG_MOUNT_OP, 10), B32(HATCH_MOUNT_BIND_RW), B32(HATCH_MOUNT_OP_EXACT), '/', 0, 0, 0, 0, 0, 0, 0,
  };
  // clang-format on
  check(parse_spawn(big, mount_spawn_with(exact_ops, sizeof exact_ops)) == 0 && plan.mount_op_count == 3 &&
            plan.mount_ops[0].flags == HATCH_MOUNT_OP_EXACT && plan.mount_ops[1].flags == 0 &&
            plan.mount_ops[2].flags == HATCH_MOUNT_OP_EXACT,
        "SPAWN mount ops with the EXACT flag on PRESERVE and BIND_RW parse");

  /* The same op without CLONE_NEWNS: spawn_with's plan has no namespaces at all. */
  static const uint8_t lone_op[] = {TLV(HATCH_TAG_MOUNT_OP, 10), B32(2), B32(0), '/', 0, 0, 0, 0, 0, 0, 0};
  check(parse_spawn(big, spawn_with(lone_op, sizeof lone_op)) == HATCH_ERR_MALFORMED,
        "SPAWN mount ops without a mount namespace refused");

  /* HATCH_MAX_MOUNT_OPS ops parse; one more is refused. */
  static const uint8_t op[] = {TLV(HATCH_TAG_MOUNT_OP, 10), B32(4), B32(0), '/', 0, 0, 0, 0, 0, 0, 0};
  uint8_t ops[(HATCH_MAX_MOUNT_OPS + 1) * sizeof op];
  for (unsigned i = 0; i <= HATCH_MAX_MOUNT_OPS; i++) memcpy(ops + i * sizeof op, op, sizeof op);
  check(parse_spawn(big, mount_spawn_with(ops, HATCH_MAX_MOUNT_OPS * sizeof op)) == 0 &&
            plan.mount_op_count == HATCH_MAX_MOUNT_OPS,
        "SPAWN with HATCH_MAX_MOUNT_OPS mount ops parses");
  check(parse_spawn(big, mount_spawn_with(ops, sizeof ops)) == HATCH_ERR_MALFORMED,
        "SPAWN with too many mount ops refused");
}

/*
 * The same bytes as 'SPAWN with an args file' in test/protocol.test.ts: the
 * body names the args file's length; the file holds the ARG and ENV records.
 */
// clang-format off: one record a row
static const uint8_t args_fd_msg[] = {
    HDR(HATCH_MSG_SPAWN, 5, 56),
    TLV(HATCH_TAG_FILE, 10), '/', 'b', 'i', 'n', '/', 'e', 'c', 'h', 'o', 0, 0, 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_ARGS_FD, 8), B64(48),
    TLV(HATCH_TAG_FLAGS, 4), B32(HATCH_SPAWN_NO_NEW_PRIVS), 0, 0, 0, 0,
};
static const uint8_t args_file[] = {
    TLV(HATCH_TAG_ARG, 5), 'e', 'c', 'h', 'o', 0, 0, 0, 0,
    TLV(HATCH_TAG_ARG, 3), 'h', 'i', 0, 0, 0, 0, 0, 0,
    TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0, 0, 0, 0, 0,
};
// clang-format on
#define SLOTS (2u * (4096u / 16u + 1u)) /* the most a 4096-byte args file can need */
static const char *slots[SLOTS];

/* The args file for the plan parsed last, with argv and envp slots sized by hatch_count_args_file. */
static int parse_args(const uint8_t *file, size_t len) {
  size_t argc, envc;
  hatch_count_args_file(file, len, &argc, &envc);
  if (argc + envc + 2 > SLOTS) return -2;
  const char *why = NULL;
  return hatch_parse_args_file(file, len, &plan, slots, argc, slots + argc + 1, envc, &why);
}

/* FILE then ARGS_FD with `length`, then `tail`; parsed with 4 fds. */
static int args_fd_spawn(uint64_t length, const uint8_t *tail, size_t tail_len) {
  const uint8_t head[] = {TLV(HATCH_TAG_ARGS_FD, 8), B64(length)};
  memcpy(big + 12, args_fd_msg + 12, 24);
  memcpy(big + 36, head, sizeof head);
  if (tail_len) memcpy(big + 52, tail, tail_len);
  const uint8_t hdr[] = {HDR(HATCH_MSG_SPAWN, 5, 40 + tail_len)};
  memcpy(big, hdr, sizeof hdr);
  return parse_spawn_fds(big, 52 + tail_len, 4);
}

/* An args file of these bytes, behind a SPAWN whose ARGS_FD names its length. */
static int parse_file(const uint8_t *file, size_t len) {
  int rc = args_fd_spawn(len, NULL, 0);
  if (rc != 0) return -1;
  return parse_args(file, len);
}

#define FILE_REFUSED(what, ...)                                                                  \
  do {                                                                                           \
    static const uint8_t file_[] = {__VA_ARGS__};                                                \
    check(parse_file(file_, sizeof file_) == HATCH_ERR_MALFORMED, "args file " what " refused"); \
  } while (0)

#define ARGS_FD_REFUSED(what, code, length, ...)                                             \
  do {                                                                                       \
    static const uint8_t tail_[] = {__VA_ARGS__};                                            \
    check(args_fd_spawn((length), tail_, sizeof tail_) == (code), "SPAWN " what " refused"); \
  } while (0)

static void test_args_fd(void) {
  struct hatch_header h;
  const char *why = NULL;
  check(sizeof args_fd_msg == 12 + 56 && sizeof args_file == 48, "SPAWN with an args file: golden lengths");
  check(check_datagram(args_fd_msg, sizeof args_fd_msg, 4, &h) == 0, "SPAWN with 4 fds accepted by the header check");
  check(check_datagram(args_fd_msg, sizeof args_fd_msg, 5, &h) == HATCH_ERR_BAD_FDS, "SPAWN with 5 fds refused");
  check(parse_spawn_fds(args_fd_msg, sizeof args_fd_msg, 4) == 0, "SPAWN with ARGS_FD parses");
  check(plan.has_args_file && plan.args_file_length == 48 && plan.argc == 0 && plan.envc == 0 &&
            strcmp(plan.file, "/bin/echo") == 0 && plan.flags == HATCH_SPAWN_NO_NEW_PRIVS,
        "SPAWN with ARGS_FD: length, no inline strings");
  size_t argc = 9, envc = 9;
  hatch_count_args_file(args_file, sizeof args_file, &argc, &envc);
  check(argc == 2 && envc == 1, "args file counted");
  check(parse_args(args_file, sizeof args_file) == 0, "args file parses");
  check(plan.argc == 2 && strcmp(plan.argv[0], "echo") == 0 && strcmp(plan.argv[1], "hi") == 0 && plan.argv[2] == NULL,
        "args file argv");
  check(plan.envc == 1 && strcmp(plan.envp[0], "A=1") == 0 && plan.envp[1] == NULL, "args file envp");
  check((const uint8_t *)plan.argv[0] == args_file + 8, "args file strings point into the file");

  /* The fd count and the record go together. */
  check(parse_spawn_fds(args_fd_msg, sizeof args_fd_msg, 3) == HATCH_ERR_BAD_FDS,
        "SPAWN with ARGS_FD but 3 fds refused");
  check(parse_spawn_fds(spawn_msg, sizeof spawn_msg, 4) == HATCH_ERR_BAD_FDS,
        "SPAWN with a 4th fd but no ARGS_FD refused");

  ARGS_FD_REFUSED("ARGS_FD length 0", HATCH_ERR_MALFORMED, 0);
  ARGS_FD_REFUSED("ARGS_FD length 8 (shorter than a record)", HATCH_ERR_MALFORMED, 8);
  ARGS_FD_REFUSED("ARGS_FD length not a multiple of 8", HATCH_ERR_MALFORMED, 44);
  ARGS_FD_REFUSED("ARGS_FD length past 16 MiB", HATCH_ERR_MALFORMED, HATCH_MAX_ARGS_FILE + 8u);
  ARGS_FD_REFUSED("ARGS_FD length 2^64 - 8", HATCH_ERR_MALFORMED, UINT64_MAX - 7u);
  ARGS_FD_REFUSED("second ARGS_FD", HATCH_ERR_MALFORMED, 48, TLV(HATCH_TAG_ARGS_FD, 8), B64(48));
  ARGS_FD_REFUSED("ARGS_FD with an inline ARG", HATCH_ERR_MALFORMED, 48, TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0,
                  0);
  ARGS_FD_REFUSED("ARGS_FD with an inline ENV", HATCH_ERR_MALFORMED, 48, TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0, 0, 0,
                  0, 0);
  ARGS_FD_REFUSED("short ARGS_FD record", HATCH_ERR_MALFORMED, 48, TLV(HATCH_TAG_ARGS_FD, 4), B32(48), B32(0));
  check(args_fd_spawn(HATCH_MAX_ARGS_FILE, NULL, 0) == 0, "ARGS_FD length of exactly 16 MiB parses");

  check(parse_file(args_file, sizeof args_file) == 0, "args file behind a matching ARGS_FD parses");
  check(args_fd_spawn(56, NULL, 0) == 0 && parse_args(args_file, sizeof args_file) == HATCH_ERR_MALFORMED,
        "args file whose size disagrees with ARGS_FD refused");
  check(args_fd_spawn(48, NULL, 0) == 0 && hatch_parse_args_file(args_file, sizeof args_file, &plan, slots, 1,
                                                                 slots + 2, 1, &why) == HATCH_ERR_MALFORMED,
        "args file with fewer argv slots than ARGs refused");
  check(args_fd_spawn(48, NULL, 0) == 0 && hatch_parse_args_file(args_file, sizeof args_file, &plan, slots, 2,
                                                                 slots + 3, 0, &why) == HATCH_ERR_MALFORMED,
        "args file with fewer envp slots than ENVs refused");
  check(parse_spawn(spawn_msg, sizeof spawn_msg) == 0 && parse_args(args_file, sizeof args_file) == HATCH_ERR_MALFORMED,
        "args file for a SPAWN without ARGS_FD refused");
  /* The count is lenient, the parse strict: a file malformed after two ARGs counts 2 and is refused. */
  static const uint8_t bad_tail[] = {TLV(HATCH_TAG_ARG, 2),  'x', 0, 0, 0, 0, 0, 0, 0,
                                     TLV(HATCH_TAG_ARG, 2),  'y', 0, 0, 0, 0, 0, 0, 0,
                                     TLV(HATCH_TAG_ARG, 64), 'z', 0, 0, 0, 0, 0, 0, 0};
  hatch_count_args_file(bad_tail, sizeof bad_tail, &argc, &envc);
  check(argc == 2 && envc == 0, "args file count stops at a malformed record");

  FILE_REFUSED("with only ENV records", TLV(HATCH_TAG_ENV, 4), 'A', '=', '1', 0, 0, 0, 0, 0, TLV(HATCH_TAG_ENV, 4), 'B',
               '=', '2', 0, 0, 0, 0, 0);
  FILE_REFUSED("with an unknown tag", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(99, 0));
  FILE_REFUSED("with a FILE record", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(HATCH_TAG_FILE, 2), 'x', 0, 0,
               0, 0, 0, 0, 0);
  FILE_REFUSED("with a CWD record", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(HATCH_TAG_CWD, 2), '/', 0, 0,
               0, 0, 0, 0, 0);
  FILE_REFUSED("with a nested ARGS_FD", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(HATCH_TAG_ARGS_FD, 8),
               B64(16));
  FILE_REFUSED("with tag 0", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(0, 0));
  FILE_REFUSED("truncated (a record runs past the end)", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0,
               TLV(HATCH_TAG_ARG, 9), 'y', 0, 0, 0, 0, 0, 0, 0);
  FILE_REFUSED("truncated (half a record header)", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, B16(HATCH_TAG_ARG),
               B16(0), B32(0), TLV(HATCH_TAG_ARG, 0x7fffffffu));
  FILE_REFUSED("with a 4 GiB record length", TLV(HATCH_TAG_ARG, 0xffffffffu), 'x', 0, 0, 0, 0, 0, 0, 0);
  FILE_REFUSED("with a string without NUL", TLV(HATCH_TAG_ARG, 2), 'x', 'y', 0, 0, 0, 0, 0, 0);
  FILE_REFUSED("with an inner NUL", TLV(HATCH_TAG_ARG, 3), 'x', 0, 'y', 0, 0, 0, 0, 0);
  FILE_REFUSED("with an empty string record", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 0, TLV(HATCH_TAG_ENV, 0));
  FILE_REFUSED("with nonzero padding", TLV(HATCH_TAG_ARG, 2), 'x', 0, 0, 0, 0, 0, 0, 1);
  FILE_REFUSED("with a nonzero reserved field", B16(HATCH_TAG_ARG), B16(1), B32(2), 'x', 0, 0, 0, 0, 0, 0, 0);

  /* The largest count a file can hold: one-byte strings (the empty string), 16 bytes each. */
  static uint8_t many[4096];
  static const uint8_t empty_arg[] = {TLV(HATCH_TAG_ARG, 1), 0, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t empty_env[] = {TLV(HATCH_TAG_ENV, 1), 0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < sizeof many; i += 16) memcpy(many + i, i == 0 ? empty_arg : empty_env, 16);
  check(parse_file(many, sizeof many) == 0 && plan.argc == 1 && plan.envc == sizeof many / 16 - 1 &&
            plan.envp[plan.envc] == NULL,
        "args file of 256 minimal records parses");
  for (size_t i = 0; i < sizeof many; i += 16) memcpy(many + i, empty_arg, 16);
  check(parse_file(many, sizeof many) == 0 && plan.argc == sizeof many / 16 && plan.argv[plan.argc] == NULL &&
            plan.envc == 0 && plan.envp[0] == NULL,
        "args file of 256 minimal ARGs parses");
}

static void expect_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len, const char *what) {
  check(got_len == want_len && memcmp(got, want, want_len) == 0, what);
}

static void test_encoders(void) {
  uint8_t out[HATCH_REPLY_MAX];
  size_t n;

  static const uint8_t hello_ok[] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
                                     0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x39, 0x30, 0x00, 0x00,
                                     0x00, 0x00, 0x02, 0x00, 0x00, 0x01, 0x00, 0x00};
  n = hatch_encode_hello_ok(out, 0, 1, 12345, HATCH_MAX_MESSAGE, HATCH_MAX_CHILDREN);
  expect_bytes(out, n, hello_ok, sizeof hello_ok, "HELLO_OK bytes");

  static const uint8_t spawned[] = {0x04, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
                                    0x04, 0x00, 0x00, 0x00, 0xd2, 0x04, 0x00, 0x00};
  n = hatch_encode_spawned(out, 7, 1234);
  expect_bytes(out, n, spawned, sizeof spawned, "SPAWNED bytes");

  static const uint8_t spawn_failed[] = {HDR(HATCH_MSG_SPAWN_FAILED, 7, 8), B32(HATCH_STAGE_EXEC), B32(ENOENT)};
  n = hatch_encode_spawn_failed(out, 7, HATCH_STAGE_EXEC, ENOENT);
  expect_bytes(out, n, spawn_failed, sizeof spawn_failed, "SPAWN_FAILED bytes");

  static const uint8_t exit_msg[] = {
      HDR(HATCH_MSG_EXIT, 7, 48), B32(0xffffffffu), B32(9), B32(5), B32(0), B64(1500), B64(250),
      B64(4096 * 1024),           B64(2000000)};
  struct hatch_exit_body e = {.exit_code = -1,
                              .term_signal = 9,
                              .reasons = 5,
                              .user_cpu_us = 1500,
                              .sys_cpu_us = 250,
                              .max_rss_bytes = 4096 * 1024,
                              .wall_us = 2000000};
  n = hatch_encode_exit(out, 7, &e);
  expect_bytes(out, n, exit_msg, sizeof exit_msg, "EXIT bytes");

  static const uint8_t pong[] = {HDR(HATCH_MSG_PONG, 5, 8), 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
  n = hatch_encode_pong(out, 5, 0x0102030405060708ull);
  expect_bytes(out, n, pong, sizeof pong, "PONG bytes");

  static const uint8_t error[] = {HDR(HATCH_MSG_ERROR, 3, 7), B32(HATCH_ERR_MALFORMED), 'b', 'a', 'd'};
  n = hatch_encode_error(out, 3, HATCH_ERR_MALFORMED, "bad");
  expect_bytes(out, n, error, sizeof error, "ERROR bytes");

  char long_text[400];
  memset(long_text, 'x', sizeof long_text - 1);
  long_text[sizeof long_text - 1] = '\0';
  n = hatch_encode_error(out, 3, HATCH_ERR_MALFORMED, long_text);
  check(n == HATCH_HEADER_SIZE + 4u + HATCH_ERROR_TEXT_MAX && out[8] == (uint8_t)(4u + HATCH_ERROR_TEXT_MAX) &&
            out[9] == 0,
        "long ERROR text cut to HATCH_ERROR_TEXT_MAX bytes");
}

/* ---- the shared golden messages ---------------------------------------- */

#define FIXTURE_MAX 4096u

/* argv[1], or test/fixtures/protocol of the checkout this binary was built in (build/Release/protocol-golden). */
static char fixture_dir[1024] = "test/fixtures/protocol";

static void find_fixture_dir(int argc, char **argv) {
  if (argc > 1) {
    snprintf(fixture_dir, sizeof fixture_dir, "%s", argv[1]);
    return;
  }
  char exe[960];
  ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (k <= 0) return;
  exe[k] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash != NULL) *slash = '\0';
  snprintf(fixture_dir, sizeof fixture_dir, "%s/../../test/fixtures/protocol", exe);
}

/* A golden message: hex bytes; '#' starts a comment to the end of the line; whitespace is ignored. */
static size_t fixture(const char *name, uint8_t *out) {
  char path[1200];
  snprintf(path, sizeof path, "%s/%s.hex", fixture_dir, name);
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    printf("FAIL: cannot open %s: %s\n", path, strerror(errno));
    failed++;
    return 0;
  }
  size_t n = 0;
  int high = -1, c, comment = 0, bad = 0;
  while ((c = fgetc(f)) != EOF) {
    if (comment) {
      comment = c != '\n';
      continue;
    }
    if (c == '#') comment = 1;
    if (c == '#' || c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
    int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (v < 0 || (high < 0 && n >= FIXTURE_MAX)) {
      bad = 1;
      break;
    }
    if (high < 0) {
      high = v;
    } else {
      out[n++] = (uint8_t)(high << 4 | v);
      high = -1;
    }
  }
  fclose(f);
  if (bad || high >= 0) {
    printf("FAIL: %s is not whole hex bytes\n", path);
    failed++;
    return 0;
  }
  return n;
}

static void test_fixture_requests(void) {
  static uint8_t buf[FIXTURE_MAX] __attribute__((aligned(8)));
  static uint8_t file[FIXTURE_MAX] __attribute__((aligned(8)));
  static const char *slots[8];
  struct hatch_header h;
  const char *why = NULL;
  size_t n;

  uint32_t version = 0, idle = 0;
  n = fixture("hello", buf);
  check(check_datagram(buf, n, 0, &h) == 0 && h.type == HATCH_MSG_HELLO && h.id == 0, "fixture hello: header");
  check(hatch_parse_hello(buf + HATCH_HEADER_SIZE, h.body_length, &version, &idle, &why) == 0 && version == 1 &&
            idle == 30000,
        "fixture hello: version 1, idle 30000 ms");

  uint32_t signo = 0, scope = 0;
  n = fixture("signal", buf);
  check(check_datagram(buf, n, 0, &h) == 0 && h.type == HATCH_MSG_SIGNAL && h.id == 7, "fixture signal: header");
  check(hatch_parse_signal(buf + HATCH_HEADER_SIZE, h.body_length, &signo, &scope, &why) == 0 && signo == 15 &&
            scope == HATCH_SCOPE_TREE_ESCALATE,
        "fixture signal: SIGTERM to the tree, escalating");

  uint64_t token = 0;
  n = fixture("ping", buf);
  check(check_datagram(buf, n, 0, &h) == 0 && h.type == HATCH_MSG_PING, "fixture ping: header");
  check(hatch_parse_ping(buf + HATCH_HEADER_SIZE, h.body_length, &token, &why) == 0 && token == 0x0102030405060708ull,
        "fixture ping: token");

  n = fixture("spawn", buf);
  check(check_datagram(buf, n, 3, &h) == 0 && h.type == HATCH_MSG_SPAWN && h.id == 3, "fixture spawn: header");
  check(parse_spawn(buf, n) == 0, "fixture spawn: parses");
  check(plan.file && strcmp(plan.file, "/bin/true") == 0 && plan.argc == 1 && strcmp(plan.argv[0], "true") == 0 &&
            plan.envc == 1 && strcmp(plan.envp[0], "A=b") == 0 && plan.cwd && strcmp(plan.cwd, "/") == 0,
        "fixture spawn: file, argv, env, cwd");
  check(plan.rlimit_count == 1 && plan.rlimits[0].resource == 4 && plan.rlimits[0].soft == 0 &&
            plan.rlimits[0].hard == UINT64_MAX,
        "fixture spawn: rlimit");
  check(plan.has_timeout && plan.timeout.timeout_ms == 1000 && plan.timeout.grace_ms == 500 &&
            plan.timeout.term_signal == 15 && plan.flags == HATCH_SPAWN_NO_NEW_PRIVS,
        "fixture spawn: timeout, flags");

  n = fixture("spawn_mounts", buf);
  check(parse_spawn(buf, n) == 0 && plan.has_namespaces && plan.namespaces.clone_flags == CLONE_NEWNS &&
            plan.mount_op_count == 2 && plan.mount_ops[0].op == HATCH_MOUNT_HIDE &&
            strcmp(plan.mount_ops[0].path, "/tmp") == 0 && plan.mount_ops[1].op == HATCH_MOUNT_READONLY_ALL &&
            strcmp(plan.mount_ops[1].path, "/") == 0,
        "fixture spawn_mounts: hide /tmp, then / read-only");

  n = fixture("spawn_exact", buf);
  check(check_datagram(buf, n, 3, &h) == 0 && h.id == 7 && parse_spawn(buf, n) == 0, "fixture spawn_exact: parses");
  check(plan.landlock_path_count == 2 && !plan.landlock_paths[0].exact &&
            strcmp(plan.landlock_paths[0].path, "/usr") == 0 && plan.landlock_paths[1].exact &&
            plan.landlock_paths[1].allowed_access == 0x7fff && strcmp(plan.landlock_paths[1].path, "/srv/job") == 0,
        "fixture spawn_exact: a plain and an exact Landlock path");
  check(plan.mount_op_count == 5 && plan.mount_ops[0].op == HATCH_MOUNT_PRESERVE &&
            plan.mount_ops[0].flags == HATCH_MOUNT_OP_EXACT && plan.mount_ops[1].flags == 0 &&
            plan.mount_ops[2].op == HATCH_MOUNT_RESTORE && plan.mount_ops[2].flags == 0 &&
            plan.mount_ops[4].op == HATCH_MOUNT_BIND_RW && plan.mount_ops[4].flags == HATCH_MOUNT_OP_EXACT &&
            strcmp(plan.mount_ops[4].path, "/srv/job") == 0,
        "fixture spawn_exact: exact PRESERVE and BIND_RW");

  n = fixture("spawn_sandbox", buf);
  check(check_datagram(buf, n, 3, &h) == 0 && h.id == 6 && parse_spawn(buf, n) == 0, "fixture spawn_sandbox: parses");
  check(plan.argc == 3 && strcmp(plan.argv[2], "exit 3") == 0 && plan.envc == 1 &&
            strcmp(plan.envp[0], "PATH=/usr/bin:/bin") == 0 &&
            plan.flags == (HATCH_SPAWN_NO_NEW_PRIVS | HATCH_SPAWN_PRIVATE_UMASK),
        "fixture spawn_sandbox: argv, env, flags");
  check(plan.has_credentials && plan.uid == 1000 && plan.gid == 1000, "fixture spawn_sandbox: credentials");
  check(plan.has_namespaces && plan.namespaces.clone_flags == (CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS) &&
            plan.namespaces.inside_uid == 0 && plan.namespaces.options == HATCH_NS_MOUNT_PROC,
        "fixture spawn_sandbox: namespaces");
  check(plan.has_landlock && plan.landlock.abi == 4 && plan.landlock.handled_access_fs == 0x7fff &&
            plan.landlock.handled_access_net == 3 && plan.landlock.scoped == 0 && plan.landlock_path_count == 1 &&
            plan.landlock_paths[0].allowed_access == 0xd && strcmp(plan.landlock_paths[0].path, "/usr") == 0 &&
            plan.landlock_port_count == 1 && plan.landlock_ports[0].allowed_access == 2 &&
            plan.landlock_ports[0].port == 443,
        "fixture spawn_sandbox: Landlock");
  check(plan.seccomp_filter != NULL && plan.seccomp_insn_count == 1 && plan.init_seccomp_filter != NULL &&
            plan.init_seccomp_insn_count == 1,
        "fixture spawn_sandbox: seccomp and init seccomp");
  check(plan.has_private_tmp && plan.private_tmp.size_bytes == 1048576 && plan.private_tmp.inodes == 1024 &&
            plan.private_tmp.flags == HATCH_PRIVATE_TMP_SHM && strcmp(plan.private_tmp_path, "/tmp") == 0,
        "fixture spawn_sandbox: private tmp");
  check(plan.mount_op_count == 1 && plan.mount_ops[0].op == HATCH_MOUNT_HIDE &&
            strcmp(plan.mount_ops[0].path, "/home") == 0,
        "fixture spawn_sandbox: mount op");

  n = fixture("spawn_args_fd", buf);
  check(parse_spawn_fds(buf, n, 4) == 0 && plan.has_args_file && plan.args_file_length == 48,
        "fixture spawn_args_fd: ARGS_FD of 48 bytes");
  size_t file_len = fixture("args_file", file);
  check(file_len == 48 && hatch_parse_args_file(file, file_len, &plan, slots, 2, slots + 3, 1, &why) == 0 &&
            plan.argc == 2 && strcmp(plan.argv[1], "hi") == 0 && plan.envc == 1 && strcmp(plan.envp[0], "A=1") == 0,
        "fixture args_file: argv and env");
}

static void test_fixture_replies(void) {
  static uint8_t want[FIXTURE_MAX];
  uint8_t out[HATCH_REPLY_MAX];
  size_t n, w;

  w = fixture("hello_ok", want);
  n = hatch_encode_hello_ok(out, 0, HATCH_PROTOCOL_VERSION, 12345, HATCH_MAX_MESSAGE, HATCH_MAX_CHILDREN);
  expect_bytes(out, n, want, w, "fixture hello_ok: encoded byte for byte");

  w = fixture("spawned", want);
  n = hatch_encode_spawned(out, 5, 99);
  expect_bytes(out, n, want, w, "fixture spawned: encoded byte for byte");

  w = fixture("twin", want);
  n = hatch_encode_twin(out, 4321);
  expect_bytes(out, n, want, w, "fixture twin: encoded byte for byte");

  w = fixture("spawn_failed", want);
  n = hatch_encode_spawn_failed(out, 5, HATCH_STAGE_EXEC, ENOENT);
  expect_bytes(out, n, want, w, "fixture spawn_failed: encoded byte for byte");

  struct hatch_exit_body e = {.exit_code = -1,
                              .term_signal = 9,
                              .reasons = HATCH_EXIT_TIMED_OUT | HATCH_EXIT_ESCALATED,
                              .user_cpu_us = 1500,
                              .sys_cpu_us = 250,
                              .max_rss_bytes = 4194304,
                              .wall_us = 2000000};
  w = fixture("exit", want);
  n = hatch_encode_exit(out, 7, &e);
  expect_bytes(out, n, want, w, "fixture exit: encoded byte for byte");

  w = fixture("pong", want);
  n = hatch_encode_pong(out, 0, 0x0102030405060708ull);
  expect_bytes(out, n, want, w, "fixture pong: encoded byte for byte");

  w = fixture("error", want);
  n = hatch_encode_error(out, 0, HATCH_ERR_VERSION, "unsupported protocol version");
  expect_bytes(out, n, want, w, "fixture error: encoded byte for byte");

  uint64_t trace_ns[HATCH_TRACE_EVENTS] = {0};
  trace_ns[HATCH_TRACE_RECEIVED] = 1000;
  trace_ns[HATCH_TRACE_PARSED] = 1500;
  trace_ns[HATCH_TRACE_STAGE_BASE + HATCH_STAGE_SIGNALS] = 0x0102030405060708ull;
  w = fixture("trace", want);
  n = hatch_encode_trace(out, 7, trace_ns);
  expect_bytes(out, n, want, w, "fixture trace: the recorded events, in event order, byte for byte");
}

int main(int argc, char **argv) {
  find_fixture_dir(argc, argv);
  test_hello();
  test_spawn();
  test_signal_ping();
  test_bad_headers();
  test_bad_spawns();
  test_mount_ops();
  test_args_fd();
  test_encoders();
  test_fixture_requests();
  test_fixture_replies();
  printf("%u passed, %u failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
