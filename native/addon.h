/* The addon's exported functions, by the file that holds them; addon.c registers them. */
#ifndef HATCHERY_ADDON_H
#define HATCHERY_ADDON_H

#include "addon_napi.h"

/* addon_spawn.c */
napi_value spawn_zygote(napi_env env, napi_callback_info info);

/* addon_fds.c */
napi_value send_message(napi_env env, napi_callback_info info);
napi_value receive_message(napi_env env, napi_callback_info info);
napi_value pidfd_send_signal_fn(napi_env env, napi_callback_info info);
napi_value reap_pidfd(napi_env env, napi_callback_info info);
napi_value pipe_fn(napi_env env, napi_callback_info info);
napi_value read_into(napi_env env, napi_callback_info info);
napi_value open_dev_null(napi_env env, napi_callback_info info);
napi_value close_fn(napi_env env, napi_callback_info info);
napi_value wait_any_no_hang(napi_env env, napi_callback_info info);
napi_value memfd_from_buffer(napi_env env, napi_callback_info info);

/* addon_watch.c: the watch() function, with the FdWatcher class it makes instances of */
napi_value make_watch_function(napi_env env);

/* addon_system.c */
napi_value page_size(napi_env env, napi_callback_info info);
napi_value landlock_abi(napi_env env, napi_callback_info info);
napi_value kernel_release(napi_env env, napi_callback_info info);
napi_value lock_file(napi_env env, napi_callback_info info);

/* addon_path_watch.c */
napi_value path_watch_open(napi_env env, napi_callback_info info);
napi_value path_watch_add(napi_env env, napi_callback_info info);
napi_value path_watch_changed(napi_env env, napi_callback_info info);

/* addon_stat.c */
napi_value stat_paths(napi_env env, napi_callback_info info);

#endif
