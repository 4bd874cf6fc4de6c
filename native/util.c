#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

/* vsnprintf into a static line: no stdio buffering, one write() per message. */
static void vlog(const char *fmt, va_list ap) {
  static char line[512];
  static const char prefix[] = "hatchery-zygote: ";
  size_t n = sizeof prefix - 1;
  for (size_t i = 0; i < n; i++) line[i] = prefix[i];
  int k = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  if (k < 0) k = 0;
  if ((size_t)k > sizeof line - n - 2) k = (int)(sizeof line - n - 2);
  n += (size_t)k;
  line[n++] = '\n';
  (void)hatch_write_all(STDERR_FILENO, line, n);
}

void hatch_log(const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
  errno = saved;
}

void hatch_die(int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog(fmt, ap);
  va_end(ap);
  _exit(status);
}

void hatch_close(int fd) {
  int saved = errno;
  /* Linux frees the fd even when close() reports EINTR, so never retry. */
  (void)close(fd);
  errno = saved;
}

uint64_t hatch_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int hatch_ms_until(uint64_t deadline_ns) {
  uint64_t now = hatch_now_ns();
  return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999u) / 1000000u);
}

size_t hatch_utoa(uint64_t v, char *buf) {
  char tmp[21];
  size_t n = 0;
  do {
    tmp[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  for (size_t i = 0; i < n; i++) buf[i] = tmp[n - 1 - i];
  buf[n] = '\0';
  return n;
}

int hatch_parse_u32(const char *s, uint32_t *out) {
  uint64_t v = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    v = v * 10u + (uint64_t)(*p - '0');
    if (v > UINT32_MAX) return -1;
  }
  if (p == s || *p != '\0') return -1;
  *out = (uint32_t)v;
  return 0;
}

int hatch_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t k = write(fd, p, len);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    p += k;
    len -= (size_t)k;
  }
  return 0;
}

uint16_t hatch_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }

uint32_t hatch_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

uint64_t hatch_le64(const uint8_t *p) { return (uint64_t)hatch_le32(p) | ((uint64_t)hatch_le32(p + 4) << 32); }

void hatch_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

void hatch_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void hatch_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
