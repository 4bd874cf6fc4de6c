/* Placeholder until seccomp lands: refuses any filter. */
#include <errno.h>
#include "plan.h"

int hatch_child_apply_seccomp(const struct hatch_plan *plan) {
  return plan->seccomp_filter ? -ENOSYS : 0;
}
