/*
 * hatchery N-API addon: the few system calls Node cannot make itself.
 * The TypeScript view of this module is src/native/binding.ts; its doc
 * comments are the contract.
 *
 * Conventions: a kernel error the caller must branch on comes back as a
 * negative errno number; anything that means a bug (EBADF, bad arguments)
 * is thrown as an Error carrying .code ('EBADF'), .errno (negative, like
 * Node's own errors) and .syscall.
 *
 * Files: addon.c registers the functions; addon_napi.c has the N-API helpers;
 * addon_spawn.c spawns zygotes; addon_fds.c moves fds (datagrams, pidfds,
 * pipes, memfds); addon_watch.c watches fds on Node's loop; addon_system.c
 * answers what the system is; addon_stat.c stats many paths at once;
 * addon_path_watch.c tells when the directories of kept plans change.
 */
#include <stddef.h>

#include "addon.h"
#include "addon_napi.h"

NAPI_MODULE_INIT() {
  static const struct {
    const char *name;
    napi_callback fn;
  } functions[] = {
      {"spawnZygote", spawn_zygote},
      {"sendMessage", send_message},
      {"receiveMessage", receive_message},
      {"pidfdSendSignal", pidfd_send_signal_fn},
      {"reapPidfd", reap_pidfd},
      {"pipe", pipe_fn},
      {"readInto", read_into},
      {"openDevNull", open_dev_null},
      {"close", close_fn},
      {"waitAnyNoHang", wait_any_no_hang},
      {"landlockAbi", landlock_abi},
      {"kernelRelease", kernel_release},
      {"lockFile", lock_file},
      {"memfdFromBuffer", memfd_from_buffer},
      {"pageSize", page_size},
      {"statPaths", stat_paths},
      {"pathWatchOpen", path_watch_open},
      {"pathWatchAdd", path_watch_add},
      {"pathWatchChanged", path_watch_changed},
  };
  for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
    napi_value fn;
    CHECK_NAPI(env, napi_create_function(env, functions[i].name, NAPI_AUTO_LENGTH, functions[i].fn, NULL, &fn));
    CHECK_NAPI(env, napi_set_named_property(env, exports, functions[i].name, fn));
  }
  napi_value watch = make_watch_function(env);
  if (watch == NULL) return NULL;
  CHECK_NAPI(env, napi_set_named_property(env, exports, "watch", watch));
  return exports;
}
