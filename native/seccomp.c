/*
 * seccomp, child side: install the BPF program TypeScript compiled. This is
 * the last verb before execve, so every earlier stage may still use any
 * syscall; the filter only has to allow what execve and the program need.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "plan.h"
#include "raw_syscall.h"

int hatch_install_filter(const void *filter, size_t insn_count) {
  if (filter == NULL) return 0;
  if (insn_count == 0 || insn_count > HATCH_MAX_SECCOMP_INSNS) return -EINVAL;
  struct sock_fprog prog = {
      .len = (unsigned short)insn_count,
      /* The kernel copies the program; the cast only drops const for the uapi type. */
      .filter = (struct sock_filter *)(uintptr_t)filter,
  };
  /* No TSYNC: the child has exactly one thread. Needs no_new_privs (or CAP_SYS_ADMIN). */
  return (int)hatch_sys(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog, 0);
}

int hatch_child_apply_seccomp(const struct hatch_plan *plan) {
  return hatch_install_filter(plan->seccomp_filter, plan->seccomp_insn_count);
}
