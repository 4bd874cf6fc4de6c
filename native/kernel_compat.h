/* Kernel constants that older libc headers may lack; the numbers are the kernel's ABI. */
#ifndef HATCHERY_KERNEL_COMPAT_H
#define HATCHERY_KERNEL_COMPAT_H

#include <sys/syscall.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef SYS_landlock_add_rule
#define SYS_landlock_add_rule 445
#endif
#ifndef SYS_landlock_restrict_self
#define SYS_landlock_restrict_self 446
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
/* The uapi struct open_how and RESOLVE_NO_SYMLINKS (Linux 5.6), under our names so old headers cannot clash. */
struct hatch_open_how {
  unsigned long long flags;
  unsigned long long mode;
  unsigned long long resolve;
};
#define HATCH_RESOLVE_NO_SYMLINKS 0x04

#ifndef MFD_NOEXEC_SEAL
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE 1
#endif

/* Signals are 1..64 on every Linux ABI Node supports (_NSIG - 1). */
#define HATCH_LAST_SIGNAL 64

#endif
