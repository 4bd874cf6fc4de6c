/* The effective capability set, read with capget (no libcap). */
#include "privilege.h"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

int hatch_has_caps(uint64_t mask) {
  struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {{0}};
  if (syscall(SYS_capget, &header, data) != 0) return 0;
  uint64_t effective = (uint64_t)data[0].effective | ((uint64_t)data[1].effective << 32);
  return (effective & mask) == mask;
}

int hatch_privileged(void) { return geteuid() == 0 && hatch_has_caps(HATCH_ROOT_CAPS); }
