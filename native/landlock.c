/* Placeholder until Landlock lands: refuses any Landlock request. */
#include <errno.h>
#include "plan.h"

int hatch_child_apply_landlock(const struct hatch_plan *plan) {
  return plan->has_landlock ? -ENOSYS : 0;
}
