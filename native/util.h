/* Small helpers shared by the zygote and its tests. Nothing here allocates. */
#ifndef HATCHERY_UTIL_H
#define HATCHERY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define HATCH_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Diagnostics go to the inherited stderr; the zygote never writes to stdout. */
void hatch_log(const char *fmt, ...) HATCH_PRINTF(1, 2);
_Noreturn void hatch_die(int status, const char *fmt, ...) HATCH_PRINTF(2, 3);

/* close() that keeps errno, so cleanup paths do not hide the first error. */
void hatch_close(int fd);
static inline void hatch_closep(int *fd) {
  if (*fd >= 0) hatch_close(*fd);
  *fd = -1;
}
#define hatch_autoclose __attribute__((cleanup(hatch_closep)))

uint64_t hatch_now_ns(void);
/* Whole milliseconds from now until deadline_ns (CLOCK_MONOTONIC), rounded up; 0 once it has passed. A poll timeout. */
int hatch_ms_until(uint64_t deadline_ns);

/* A struct timeval (rusage times) in microseconds. */
static inline uint64_t hatch_timeval_us(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
}

/* Decimal digits of v into buf (at least 21 bytes), NUL-terminated; returns the length. */
size_t hatch_utoa(uint64_t v, char *buf);
/* The whole of s as a decimal uint32_t (digits only, no sign or space): 0, or -1 when it is not one. */
int hatch_parse_u32(const char *s, uint32_t *out);

/* Writes the whole buffer, retrying on EINTR; 0 or -errno. Safe in the child. */
int hatch_write_all(int fd, const void *buf, size_t len);

/* Little-endian loads and stores that do not care about alignment. */
uint16_t hatch_le16(const uint8_t *p);
uint32_t hatch_le32(const uint8_t *p);
uint64_t hatch_le64(const uint8_t *p);
void hatch_put16(uint8_t *p, uint16_t v);
void hatch_put32(uint8_t *p, uint32_t v);
void hatch_put64(uint8_t *p, uint64_t v);

#endif
