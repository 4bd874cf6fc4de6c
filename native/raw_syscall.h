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
static inline long hatch_raw_syscall4(long nr, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
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
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
}
#else
#define HATCH_HAVE_RAW_SYSCALL 0
#endif

#endif
