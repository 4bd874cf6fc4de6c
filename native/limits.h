/* Resource limits, applied by the child (stage HATCH_STAGE_RLIMITS). */
#ifndef HATCHERY_LIMITS_H
#define HATCHERY_LIMITS_H

#include "plan.h"

/*
 * Core dumps are switched off first (soft limit 0, so the plan may still
 * raise it), then every plan record is applied in order. 0 or -errno.
 * Only system calls: safe between clone3 and execve.
 */
int hatch_apply_rlimits(const struct hatch_plan *plan);

#endif
