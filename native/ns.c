/* Placeholder until namespaces land: refuses any namespace request. */
#include <errno.h>
#include "plan.h"

int hatch_child_enter_userns(const struct hatch_plan *plan, int sync_fd) {
  (void)sync_fd;
  return plan->has_namespaces ? -ENOSYS : 0;
}

int hatch_child_setup_mounts(const struct hatch_plan *plan) {
  return plan->has_namespaces ? -ENOSYS : 0;
}

int hatch_parent_write_id_maps(const struct hatch_plan *plan, int pid, uint32_t outside_uid,
                               uint32_t outside_gid) {
  (void)pid;
  (void)outside_uid;
  (void)outside_gid;
  return plan->has_namespaces ? -ENOSYS : 0;
}
