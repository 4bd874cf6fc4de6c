/*
 * System calls without libc, for code that runs beside the zygote in the
 * zygote's own memory: a pid-namespace init made with CLONE_VM (zygote_spawn.c)
 * once it has let the zygote go on. Such code must not write errno (the
 * zygote's thread-local errno is the same memory) nor any other libc state,
 * so it makes its few calls here: each returns the kernel's value, a
 * negative errno on failure, and touches nothing but its arguments.
 *
 * HATCH_HAVE_RAW_SYSCALL is 0 on architectures without an implementation;
 * the zygote then gives such an init its own copy of memory (fork), as before.
 */
#ifndef HATCHERY_RAW_SYSCALL_H
#define HATCHERY_RAW_SYSCALL_H

#if defined(__x86_64__)
#define HATCH_HAVE_RAW_SYSCALL 1
/* The 5th and 6th argument registers are zeroed: calls such as prctl refuse what they find there otherwise. */
static inline long hatch_raw_syscall4(long nr, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = 0;
  register long r9 __asm__("r9") = 0;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
#define HATCH_HAVE_RAW_SYSCALL 1
static inline long hatch_raw_syscall4(long nr, long a, long b, long c, long d) {
  register long x8 __asm__("x8") = nr;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = 0;
  register long x5 __asm__("x5") = 0;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
  return x0;
}
#else
#define HATCH_HAVE_RAW_SYSCALL 0
#endif

/*
 * The one way such code calls the kernel: the value, or -errno. Without
 * raw_syscall support it falls back to syscall(3) (errno and all), which
 * is right there because such a child has memory of its own (zygote_spawn.c).
 */
#if HATCH_HAVE_RAW_SYSCALL
static inline long hatch_sys(long nr, long a, long b, long c, long d) { return hatch_raw_syscall4(nr, a, b, c, d); }
#else
#include <errno.h>
#include <unistd.h>
static inline long hatch_sys(long nr, long a, long b, long c, long d) {
  long r = syscall(nr, a, b, c, d);
  return r < 0 ? -errno : r;
}
#endif

#endif
