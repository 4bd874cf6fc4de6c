#include "limits.h"

#include <errno.h>
#include <sys/resource.h>

/* A crashing untrusted program must not write a core file wherever it runs. */
static int disable_core_dumps(void) {
  struct rlimit core;
  if (getrlimit(RLIMIT_CORE, &core) != 0) return -errno;
  core.rlim_cur = 0;
  return setrlimit(RLIMIT_CORE, &core) == 0 ? 0 : -errno;
}

static rlim_t to_rlim(uint64_t v) { return v == UINT64_MAX ? RLIM_INFINITY : (rlim_t)v; }

int hatch_apply_rlimits(const struct hatch_plan *plan) {
  int rc = disable_core_dumps();
  if (rc != 0) return rc;
  for (size_t i = 0; i < plan->rlimit_count; i++) {
    const struct hatch_rlimit_value *r = &plan->rlimits[i];
    struct rlimit lim = {.rlim_cur = to_rlim(r->soft), .rlim_max = to_rlim(r->hard)};
    if (setrlimit((__rlimit_resource_t)r->resource, &lim) != 0) return -errno;
  }
  return 0;
}
