/*
 * Framing and parsing of protocol.h messages. Pure functions over byte
 * buffers: no system calls, so native/test/protocol_golden.c can pin them.
 *
 * Checks return 0 or a positive enum hatch_error_code, and set *why to a
 * static, human-readable reason for the ERROR reply.
 */
#ifndef HATCHERY_WIRE_H
#define HATCHERY_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include "plan.h"
#include "protocol.h"

/* Largest reply the zygote ever sends (a TRACE with every event; an ERROR has its text cut to 240 bytes). */
#define HATCH_REPLY_MAX 1280u
#define HATCH_ERROR_TEXT_MAX 240u

/* Namespace flags a plan may ask clone3 for; any other bit would change what clone3 does. */
extern const uint32_t hatch_allowed_clone_flags;

/*
 * Validates one received datagram of n bytes: size, header, type and fd count.
 * `truncated` is nonzero when recvmsg reported MSG_TRUNC; `fds_truncated` for MSG_CTRUNC.
 * On return *hdr holds the header when n >= HATCH_HEADER_SIZE (id 0 otherwise),
 * even when the datagram is refused, so the ERROR can echo the request id.
 */
int hatch_check_datagram(const uint8_t *buf, size_t n, int truncated, int fds_truncated, unsigned nfds,
                         struct hatch_header *hdr, const char **why);

int hatch_parse_hello(const uint8_t *body, size_t len, uint32_t *version, uint32_t *idle_timeout_ms, const char **why);
int hatch_parse_signal(const uint8_t *body, size_t len, uint32_t *signo, uint32_t *scope, const char **why);
int hatch_parse_ping(const uint8_t *body, size_t len, uint64_t *token, const char **why);

/*
 * Fills *plan with pointers into body, which must outlive the plan. nfds is
 * the datagram's fd count (3, or 4 with an args file). With plan->has_args_file
 * set on return, argv and env are still to come from hatch_parse_args_file.
 */
int hatch_parse_spawn(const uint8_t *body, size_t len, unsigned nfds, struct hatch_plan *plan, const char **why);

/*
 * The ARG and ENV records of an args file, counted to size the pointer
 * arrays hatch_parse_args_file fills. Lenient: it stops at the first
 * malformed record, which hatch_parse_args_file then refuses.
 */
void hatch_count_args_file(const uint8_t *file, size_t len, size_t *argc, size_t *envc);

/*
 * The args file of a plan hatch_parse_spawn left with has_args_file: len
 * bytes (which must equal the ARGS_FD length), ARG and ENV records only.
 * Points plan->argv into argv_slots (argv_room strings and the NULL) and
 * plan->envp into envp_slots (likewise), and the strings into `file`; all
 * must outlive the plan. More strings than room is refused, never overrun.
 */
int hatch_parse_args_file(const uint8_t *file, size_t len, struct hatch_plan *plan, const char **argv_slots,
                          size_t argv_room, const char **envp_slots, size_t envp_room, const char **why);

/* Encoders write into out (HATCH_REPLY_MAX bytes) and return the datagram length. */
size_t hatch_encode_hello_ok(uint8_t *out, uint32_t id, uint32_t version, uint32_t zygote_pid, uint32_t max_message,
                             uint32_t max_children);
size_t hatch_encode_spawned(uint8_t *out, uint32_t id, uint32_t pid);
size_t hatch_encode_twin(uint8_t *out, uint32_t pid);
size_t hatch_encode_spawn_failed(uint8_t *out, uint32_t id, uint32_t stage, int32_t err);
size_t hatch_encode_exit(uint8_t *out, uint32_t id, const struct hatch_exit_body *exit);
size_t hatch_encode_pong(uint8_t *out, uint32_t id, uint64_t token);
size_t hatch_encode_error(uint8_t *out, uint32_t id, uint32_t code, const char *text);
/* The nonzero entries of ns[HATCH_TRACE_EVENTS] (indexed by enum hatch_trace_event), in event order. */
size_t hatch_encode_trace(uint8_t *out, uint32_t id, const uint64_t ns[HATCH_TRACE_EVENTS]);

#endif
