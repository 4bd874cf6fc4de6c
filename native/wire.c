#include "wire.h"

#include <sched.h>
#include <string.h>
#include "kernel_compat.h"
#include "util.h"

const uint32_t hatch_allowed_clone_flags = CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                           CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWTIME;

static int refuse(const char **why, int code, const char *reason) {
  *why = reason;
  return code;
}

/* SPAWN: stdio, plus the args file; hatch_parse_spawn ties a 4th fd to an ARGS_FD record. */
static int fd_count_ok(uint16_t type, unsigned nfds) {
  return type == HATCH_MSG_SPAWN ? (nfds == 3u || nfds == 4u) : nfds == 0u;
}

static int is_request_type(uint16_t type) {
  return type == HATCH_MSG_HELLO || type == HATCH_MSG_SPAWN || type == HATCH_MSG_SIGNAL || type == HATCH_MSG_PING;
}

int hatch_check_datagram(const uint8_t *buf, size_t n, int truncated, int fds_truncated, unsigned nfds,
                         struct hatch_header *hdr, const char **why) {
  memset(hdr, 0, sizeof *hdr);
  if (n >= HATCH_HEADER_SIZE) {
    hdr->type = hatch_le16(buf);
    hdr->flags = hatch_le16(buf + 2);
    hdr->id = hatch_le32(buf + 4);
    hdr->body_length = hatch_le32(buf + 8);
  }
  if (truncated || n > HATCH_MAX_MESSAGE)
    return refuse(why, HATCH_ERR_OVERSIZED, "datagram exceeds the maximum message size");
  if (fds_truncated) return refuse(why, HATCH_ERR_BAD_FDS, "too many file descriptors");
  if (n < HATCH_HEADER_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "datagram shorter than a header");
  if (hdr->flags != 0) return refuse(why, HATCH_ERR_MALFORMED, "nonzero header flags");
  if (hdr->body_length != n - HATCH_HEADER_SIZE)
    return refuse(why, HATCH_ERR_MALFORMED, "header body_length disagrees with the datagram size");
  if (!is_request_type(hdr->type)) return refuse(why, HATCH_ERR_UNKNOWN_TYPE, "unknown message type");
  if (!fd_count_ok(hdr->type, nfds))
    return refuse(why, HATCH_ERR_BAD_FDS, "wrong number of file descriptors for the message type");
  return 0;
}

int hatch_parse_hello(const uint8_t *body, size_t len, uint32_t *version, uint32_t *idle_timeout_ms, const char **why) {
  if (len != HATCH_HELLO_BODY_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "HELLO body must be 8 bytes");
  *version = hatch_le32(body);
  *idle_timeout_ms = hatch_le32(body + 4);
  return 0;
}

int hatch_parse_signal(const uint8_t *body, size_t len, uint32_t *signo, uint32_t *scope, const char **why) {
  if (len != HATCH_SIGNAL_BODY_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "SIGNAL body must be 8 bytes");
  *signo = hatch_le32(body);
  *scope = hatch_le32(body + 4);
  if (*signo > (uint32_t)HATCH_LAST_SIGNAL) return refuse(why, HATCH_ERR_MALFORMED, "SIGNAL signo out of range");
  if (*scope > HATCH_SCOPE_TREE_ESCALATE) return refuse(why, HATCH_ERR_MALFORMED, "SIGNAL scope unknown");
  return 0;
}

int hatch_parse_ping(const uint8_t *body, size_t len, uint64_t *token, const char **why) {
  if (len != HATCH_PING_BODY_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "PING body must be 8 bytes");
  *token = hatch_le64(body);
  return 0;
}

/* A string value: NUL-terminated inside its length, with no other NUL. */
static int valid_string(const uint8_t *value, size_t len) {
  return len >= 1 && value[len - 1] == 0 && memchr(value, 0, len - 1) == NULL;
}

static int all_zero(const uint8_t *p, size_t len) {
  for (size_t i = 0; i < len; i++)
    if (p[i] != 0) return 0;
  return 1;
}

static void reset_plan(struct hatch_plan *plan) {
  plan->file = NULL;
  plan->argv = plan->inline_argv;
  plan->argc = 0;
  plan->argv_room = HATCH_MAX_INLINE_ARGS;
  plan->envp = plan->inline_envp;
  plan->envc = 0;
  plan->envp_room = HATCH_MAX_INLINE_ENV;
  plan->has_args_file = 0;
  plan->args_file_length = 0;
  plan->cwd = NULL;
  plan->rlimit_count = 0;
  plan->has_timeout = 0;
  memset(&plan->timeout, 0, sizeof plan->timeout);
  plan->flags = 0;
  plan->has_credentials = 0;
  plan->uid = plan->gid = 0;
  plan->has_namespaces = 0;
  memset(&plan->namespaces, 0, sizeof plan->namespaces);
  plan->loopback_ready = 0;
  plan->has_landlock = 0;
  memset(&plan->landlock, 0, sizeof plan->landlock);
  plan->landlock_path_count = 0;
  plan->landlock_port_count = 0;
  plan->seccomp_filter = NULL;
  plan->seccomp_insn_count = 0;
  plan->init_seccomp_filter = NULL;
  plan->init_seccomp_insn_count = 0;
  plan->has_private_tmp = 0;
  plan->private_tmp_path = NULL;
  plan->mount_op_count = 0;
}

/* One record's value, already bounds-checked; `seen` tracks at-most-once tags. */
static int apply_record(struct hatch_plan *plan, uint16_t tag, const uint8_t *v, size_t len, uint32_t *seen,
                        const char **why) {
  if (tag == 0 || tag > HATCH_TAG_LANDLOCK_PATH_EXACT) return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN tag");
  int repeatable = tag == HATCH_TAG_ARG || tag == HATCH_TAG_ENV || tag == HATCH_TAG_RLIMIT ||
                   tag == HATCH_TAG_LANDLOCK_PATH || tag == HATCH_TAG_LANDLOCK_PATH_EXACT ||
                   tag == HATCH_TAG_LANDLOCK_PORT || tag == HATCH_TAG_MOUNT_OP;
  if (!repeatable && (*seen & (1u << tag))) return refuse(why, HATCH_ERR_MALFORMED, "SPAWN tag repeated");
  *seen |= 1u << tag;

  switch (tag) {
  case HATCH_TAG_FILE:
  case HATCH_TAG_ARG:
  case HATCH_TAG_ENV:
  case HATCH_TAG_CWD:
    if (!valid_string(v, len))
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN string is not NUL-terminated or has an inner NUL");
    if (tag == HATCH_TAG_FILE) plan->file = (const char *)v;
    if (tag == HATCH_TAG_CWD) plan->cwd = (const char *)v;
    /* Unreachable for a datagram that fits HATCH_MAX_MESSAGE (see protocol.h); kept as a bound. */
    if (tag == HATCH_TAG_ARG) {
      if (plan->argc >= plan->argv_room) return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN arguments");
      plan->argv[plan->argc++] = (const char *)v;
    }
    if (tag == HATCH_TAG_ENV) {
      if (plan->envc >= plan->envp_room) return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN environment entries");
      plan->envp[plan->envc++] = (const char *)v;
    }
    return 0;
  case HATCH_TAG_ARGS_FD: {
    if (len != 8) return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN args fd record");
    uint64_t n = hatch_le64(v);
    if (n < 16 || n % HATCH_TLV_ALIGN != 0 || n > HATCH_MAX_ARGS_FILE)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN args file length must be a multiple of 8 from 16 to 16 MiB");
    plan->has_args_file = 1;
    plan->args_file_length = n;
    return 0;
  }
  case HATCH_TAG_RLIMIT: {
    if (len != HATCH_RLIMIT_VALUE_SIZE || !all_zero(v + 4, 4))
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN rlimit record");
    if (plan->rlimit_count >= HATCH_MAX_RLIMITS) return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN rlimits");
    struct hatch_rlimit_value *r = &plan->rlimits[plan->rlimit_count++];
    r->resource = hatch_le32(v);
    r->reserved = 0;
    r->soft = hatch_le64(v + 8);
    r->hard = hatch_le64(v + 16);
    return 0;
  }
  case HATCH_TAG_TIMEOUT:
    if (len != HATCH_TIMEOUT_VALUE_SIZE || !all_zero(v + 12, 4))
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN timeout record");
    plan->has_timeout = 1;
    plan->timeout.timeout_ms = hatch_le32(v);
    plan->timeout.grace_ms = hatch_le32(v + 4);
    plan->timeout.term_signal = hatch_le32(v + 8);
    if (plan->timeout.term_signal == 0 || plan->timeout.term_signal > (uint32_t)HATCH_LAST_SIGNAL)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN timeout term_signal out of range");
    return 0;
  case HATCH_TAG_FLAGS:
    if (len != 4) return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN flags record");
    plan->flags = hatch_le32(v);
    if (plan->flags & ~(uint32_t)HATCH_SPAWN_KNOWN_FLAGS)
      return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN flags");
    return 0;
  case HATCH_TAG_CREDENTIALS:
    if (len != HATCH_CREDENTIALS_VALUE_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN credentials record");
    plan->has_credentials = 1;
    plan->uid = hatch_le32(v);
    plan->gid = hatch_le32(v + 4);
    return 0;
  case HATCH_TAG_NAMESPACES:
    if (len != HATCH_NAMESPACES_VALUE_SIZE) return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN namespaces record");
    plan->has_namespaces = 1;
    plan->namespaces.clone_flags = hatch_le32(v);
    plan->namespaces.inside_uid = hatch_le32(v + 4);
    plan->namespaces.inside_gid = hatch_le32(v + 8);
    plan->namespaces.options = hatch_le32(v + 12);
    if (plan->namespaces.clone_flags & ~hatch_allowed_clone_flags)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN namespaces ask for non-namespace clone flags");
    return 0;
  case HATCH_TAG_LANDLOCK_RULESET:
    if (len != HATCH_LANDLOCK_RULESET_VALUE_SIZE || !all_zero(v + 4, 4))
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN Landlock ruleset record");
    plan->has_landlock = 1;
    plan->landlock.abi = hatch_le32(v);
    plan->landlock.handled_access_fs = hatch_le64(v + 8);
    plan->landlock.handled_access_net = hatch_le64(v + 16);
    plan->landlock.scoped = hatch_le64(v + 24);
    return 0;
  case HATCH_TAG_LANDLOCK_PATH:
  case HATCH_TAG_LANDLOCK_PATH_EXACT:
    if (len < 9 || !valid_string(v + 8, len - 8))
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN Landlock path record");
    if (tag == HATCH_TAG_LANDLOCK_PATH_EXACT && v[8] != '/')
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN exact Landlock path is not absolute");
    if (plan->landlock_path_count >= HATCH_MAX_LANDLOCK_PATHS)
      return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN Landlock paths");
    plan->landlock_paths[plan->landlock_path_count].allowed_access = hatch_le64(v);
    plan->landlock_paths[plan->landlock_path_count].exact = tag == HATCH_TAG_LANDLOCK_PATH_EXACT;
    plan->landlock_paths[plan->landlock_path_count++].path = (const char *)(v + 8);
    return 0;
  case HATCH_TAG_LANDLOCK_PORT:
    if (len != HATCH_LANDLOCK_PORT_VALUE_SIZE)
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN Landlock port record");
    if (plan->landlock_port_count >= HATCH_MAX_LANDLOCK_PORTS)
      return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN Landlock ports");
    plan->landlock_ports[plan->landlock_port_count].allowed_access = hatch_le64(v);
    plan->landlock_ports[plan->landlock_port_count++].port = hatch_le64(v + 8);
    return 0;
  case HATCH_TAG_SECCOMP:
    if (len == 0 || len % 8 != 0 || len / 8 > HATCH_MAX_SECCOMP_INSNS)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN seccomp program must be 1..4096 instructions");
    plan->seccomp_filter = v;
    plan->seccomp_insn_count = len / 8;
    return 0;
  case HATCH_TAG_INIT_SECCOMP:
    if (len == 0 || len % 8 != 0 || len / 8 > HATCH_MAX_SECCOMP_INSNS)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN init seccomp program must be 1..4096 instructions");
    plan->init_seccomp_filter = v;
    plan->init_seccomp_insn_count = len / 8;
    return 0;
  case HATCH_TAG_PRIVATE_TMP:
    if (len < 26 || !all_zero(v + 20, 4) || !valid_string(v + 24, len - 24))
      return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN private tmp record");
    plan->has_private_tmp = 1;
    plan->private_tmp.size_bytes = hatch_le64(v);
    plan->private_tmp.inodes = hatch_le64(v + 8);
    plan->private_tmp.flags = hatch_le32(v + 16);
    plan->private_tmp_path = (const char *)(v + 24);
    if (plan->private_tmp.size_bytes == 0 || plan->private_tmp.inodes == 0)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN private tmp needs a size and an inode count");
    if (plan->private_tmp.flags & ~(uint32_t)HATCH_PRIVATE_TMP_SHM)
      return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN private tmp flags");
    if (plan->private_tmp_path[0] != '/')
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN private tmp path is not absolute");
    return 0;
  case HATCH_TAG_MOUNT_OP: {
    if (len < 10 || !valid_string(v + 8, len - 8)) return refuse(why, HATCH_ERR_MALFORMED, "bad SPAWN mount op record");
    uint32_t op = hatch_le32(v);
    uint32_t flags = hatch_le32(v + 4);
    if (op < HATCH_MOUNT_PRESERVE || op > HATCH_MOUNT_BIND_RW)
      return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN mount op");
    if (flags & ~(uint32_t)HATCH_MOUNT_OP_EXACT)
      return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN mount op flags");
    if (flags != 0 && op != HATCH_MOUNT_PRESERVE && op != HATCH_MOUNT_BIND_RW)
      return refuse(why, HATCH_ERR_MALFORMED, "SPAWN mount op EXACT flag on an op other than PRESERVE or BIND_RW");
    if (v[8] != '/') return refuse(why, HATCH_ERR_MALFORMED, "SPAWN mount op path is not absolute");
    if (plan->mount_op_count >= HATCH_MAX_MOUNT_OPS)
      return refuse(why, HATCH_ERR_MALFORMED, "too many SPAWN mount ops");
    plan->mount_ops[plan->mount_op_count].op = op;
    plan->mount_ops[plan->mount_op_count].flags = flags;
    plan->mount_ops[plan->mount_op_count++].path = (const char *)(v + 8);
    return 0;
  }
  }
  return refuse(why, HATCH_ERR_MALFORMED, "unknown SPAWN tag");
}

/*
 * The record at *off of a record sequence (a SPAWN body, or an args file when
 * in_file): header, bounds and padding checked; *off moves past it.
 */
static int next_record(const uint8_t *buf, size_t len, size_t *off, int in_file, uint16_t *tag, const uint8_t **value,
                       size_t *vlen, const char **why) {
  size_t at = *off;
  if (len - at < HATCH_TLV_HEADER_SIZE)
    return refuse(why, HATCH_ERR_MALFORMED,
                  in_file ? "truncated args file record header" : "truncated SPAWN record header");
  *tag = hatch_le16(buf + at);
  uint16_t reserved = hatch_le16(buf + at + 2);
  uint32_t n = hatch_le32(buf + at + 4);
  at += HATCH_TLV_HEADER_SIZE;
  if (reserved != 0)
    return refuse(why, HATCH_ERR_MALFORMED,
                  in_file ? "nonzero args file record reserved field" : "nonzero SPAWN record reserved field");
  /* Compared against the remaining bytes, so no sum can overflow. */
  size_t padded = ((size_t)n + HATCH_TLV_ALIGN - 1) / HATCH_TLV_ALIGN * HATCH_TLV_ALIGN;
  if (padded > len - at)
    return refuse(why, HATCH_ERR_MALFORMED,
                  in_file ? "args file record runs past the end" : "SPAWN record runs past the end");
  if (!all_zero(buf + at + n, padded - n))
    return refuse(why, HATCH_ERR_MALFORMED,
                  in_file ? "nonzero args file record padding" : "nonzero SPAWN record padding");
  *value = buf + at;
  *vlen = n;
  *off = at + padded;
  return 0;
}

int hatch_parse_spawn(const uint8_t *body, size_t len, unsigned nfds, struct hatch_plan *plan, const char **why) {
  reset_plan(plan);
  uint32_t seen = 0;
  size_t off = 0;
  while (off < len) {
    uint16_t tag;
    const uint8_t *value;
    size_t vlen;
    int rc = next_record(body, len, &off, 0, &tag, &value, &vlen, why);
    if (rc == 0) rc = apply_record(plan, tag, value, vlen, &seen, why);
    if (rc != 0) return rc;
  }
  if (plan->file == NULL) return refuse(why, HATCH_ERR_MALFORMED, "SPAWN without a file");
  if (plan->has_args_file != (nfds == 4u))
    return refuse(why, HATCH_ERR_BAD_FDS, "SPAWN has a 4th fd exactly when it has an ARGS_FD record");
  if (plan->has_args_file && (plan->argc > 0 || plan->envc > 0))
    return refuse(why, HATCH_ERR_MALFORMED, "SPAWN with ARGS_FD has ARG or ENV records in its body");
  if (!plan->has_args_file && plan->argc == 0) return refuse(why, HATCH_ERR_MALFORMED, "SPAWN without arguments");
  if (!plan->has_landlock && (plan->landlock_path_count > 0 || plan->landlock_port_count > 0))
    return refuse(why, HATCH_ERR_MALFORMED, "SPAWN Landlock rules without a ruleset");
  if (plan->mount_op_count > 0 && !(plan->has_namespaces && (plan->namespaces.clone_flags & CLONE_NEWNS)))
    return refuse(why, HATCH_ERR_MALFORMED, "SPAWN mount ops without a mount namespace");
  if ((plan->flags & HATCH_SPAWN_KILL_UID) && !(plan->has_credentials && hatch_is_operation_id(plan->uid)))
    return refuse(why, HATCH_ERR_MALFORMED, "SPAWN KILL_UID without an operation uid's credentials");
  plan->argv[plan->argc] = NULL;
  plan->envp[plan->envc] = NULL;
  return 0;
}

void hatch_count_args_file(const uint8_t *file, size_t len, size_t *argc, size_t *envc) {
  *argc = *envc = 0;
  size_t off = 0;
  const char *why;
  while (off < len) {
    uint16_t tag;
    const uint8_t *v;
    size_t vlen;
    if (next_record(file, len, &off, 1, &tag, &v, &vlen, &why) != 0) return;
    if (tag == HATCH_TAG_ARG) ++*argc;
    else if (tag == HATCH_TAG_ENV) ++*envc;
  }
}

int hatch_parse_args_file(const uint8_t *file, size_t len, struct hatch_plan *plan, const char **argv_slots,
                          size_t argv_room, const char **envp_slots, size_t envp_room, const char **why) {
  if (!plan->has_args_file || len != plan->args_file_length)
    return refuse(why, HATCH_ERR_MALFORMED, "args file length disagrees with the ARGS_FD record");
  plan->argv = argv_slots;
  plan->argc = 0;
  plan->argv_room = argv_room;
  plan->envp = envp_slots;
  plan->envc = 0;
  plan->envp_room = envp_room;
  size_t off = 0;
  while (off < len) {
    uint16_t tag;
    const uint8_t *v;
    size_t vlen;
    int rc = next_record(file, len, &off, 1, &tag, &v, &vlen, why);
    if (rc != 0) return rc;
    if (tag != HATCH_TAG_ARG && tag != HATCH_TAG_ENV)
      return refuse(why, HATCH_ERR_MALFORMED, "args file holds a record other than ARG or ENV");
    if (!valid_string(v, vlen))
      return refuse(why, HATCH_ERR_MALFORMED, "args file string is not NUL-terminated or has an inner NUL");
    if (tag == HATCH_TAG_ARG) {
      if (plan->argc >= plan->argv_room) return refuse(why, HATCH_ERR_MALFORMED, "more args file arguments than slots");
      plan->argv[plan->argc++] = (const char *)v;
    } else {
      if (plan->envc >= plan->envp_room)
        return refuse(why, HATCH_ERR_MALFORMED, "more args file environment entries than slots");
      plan->envp[plan->envc++] = (const char *)v;
    }
  }
  if (plan->argc == 0) return refuse(why, HATCH_ERR_MALFORMED, "args file without arguments");
  plan->argv[plan->argc] = NULL;
  plan->envp[plan->envc] = NULL;
  return 0;
}

static size_t put_header(uint8_t *out, uint16_t type, uint32_t id, uint32_t body_length) {
  hatch_put16(out, type);
  hatch_put16(out + 2, 0);
  hatch_put32(out + 4, id);
  hatch_put32(out + 8, body_length);
  return HATCH_HEADER_SIZE + body_length;
}

size_t hatch_encode_hello_ok(uint8_t *out, uint32_t id, uint32_t version, uint32_t zygote_pid, uint32_t max_message,
                             uint32_t max_children) {
  hatch_put32(out + 12, version);
  hatch_put32(out + 16, zygote_pid);
  hatch_put32(out + 20, max_message);
  hatch_put32(out + 24, max_children);
  return put_header(out, HATCH_MSG_HELLO_OK, id, HATCH_HELLO_OK_BODY_SIZE);
}

size_t hatch_encode_spawned(uint8_t *out, uint32_t id, uint32_t pid) {
  hatch_put32(out + 12, pid);
  return put_header(out, HATCH_MSG_SPAWNED, id, HATCH_SPAWNED_BODY_SIZE);
}

size_t hatch_encode_twin(uint8_t *out, uint32_t pid) {
  hatch_put32(out + 12, pid);
  return put_header(out, HATCH_MSG_TWIN, 0, HATCH_TWIN_BODY_SIZE);
}

size_t hatch_encode_spawn_failed(uint8_t *out, uint32_t id, uint32_t stage, int32_t err) {
  hatch_put32(out + 12, stage);
  hatch_put32(out + 16, (uint32_t)err);
  return put_header(out, HATCH_MSG_SPAWN_FAILED, id, HATCH_SPAWN_FAILED_BODY_SIZE);
}

size_t hatch_encode_exit(uint8_t *out, uint32_t id, const struct hatch_exit_body *e) {
  uint8_t *b = out + HATCH_HEADER_SIZE;
  hatch_put32(b, (uint32_t)e->exit_code);
  hatch_put32(b + 4, (uint32_t)e->term_signal);
  hatch_put32(b + 8, e->reasons);
  hatch_put32(b + 12, 0);
  hatch_put64(b + 16, e->user_cpu_us);
  hatch_put64(b + 24, e->sys_cpu_us);
  hatch_put64(b + 32, e->max_rss_bytes);
  hatch_put64(b + 40, e->wall_us);
  return put_header(out, HATCH_MSG_EXIT, id, HATCH_EXIT_BODY_SIZE);
}

size_t hatch_encode_pong(uint8_t *out, uint32_t id, uint64_t token) {
  hatch_put64(out + 12, token);
  return put_header(out, HATCH_MSG_PONG, id, HATCH_PING_BODY_SIZE);
}

size_t hatch_encode_error(uint8_t *out, uint32_t id, uint32_t code, const char *text) {
  size_t room = HATCH_ERROR_TEXT_MAX;
  size_t n = text ? strnlen(text, room) : 0;
  hatch_put32(out + 12, code);
  if (n) memcpy(out + 16, text, n);
  return put_header(out, HATCH_MSG_ERROR, id, (uint32_t)(4 + n));
}

_Static_assert(HATCH_HEADER_SIZE + 8u + HATCH_TRACE_ENTRY_SIZE * HATCH_TRACE_EVENTS <= HATCH_REPLY_MAX,
               "a TRACE with every event fits a reply");
_Static_assert(HATCH_HEADER_SIZE + 4u + HATCH_ERROR_TEXT_MAX <= HATCH_REPLY_MAX, "an ERROR fits a reply");

size_t hatch_encode_trace(uint8_t *out, uint32_t id, const uint64_t ns[HATCH_TRACE_EVENTS]) {
  uint8_t *b = out + HATCH_HEADER_SIZE;
  uint32_t count = 0;
  for (uint32_t event = 0; event < HATCH_TRACE_EVENTS; event++) {
    if (ns[event] == 0) continue;
    uint8_t *e = b + 8 + HATCH_TRACE_ENTRY_SIZE * count++;
    hatch_put32(e, event);
    hatch_put32(e + 4, 0);
    hatch_put64(e + 8, ns[event]);
  }
  hatch_put32(b, count);
  hatch_put32(b + 4, 0);
  return put_header(out, HATCH_MSG_TRACE, id, 8 + HATCH_TRACE_ENTRY_SIZE * count);
}
