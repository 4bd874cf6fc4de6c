/* What the system is: page size, Landlock ABI, kernel release; and file leases. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "addon.h"
#include "addon_napi.h"
#include "kernel_compat.h"

napi_value page_size(napi_env env, napi_callback_info info) {
  (void)info;
  long size = sysconf(_SC_PAGESIZE);
  return make_int(env, size > 0 ? size : 4096);
}

napi_value landlock_abi(napi_env env, napi_callback_info info) {
  (void)info;
  long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return make_int(env, abi < 0 ? -(int64_t)errno : (int64_t)abi);
}

napi_value kernel_release(napi_env env, napi_callback_info info) {
  (void)info;
  struct utsname name;
  if (uname(&name) < 0) return throw_errno(env, "uname", errno);
  napi_value result;
  CHECK_NAPI(env, napi_create_string_utf8(env, name.release, NAPI_AUTO_LENGTH, &result));
  return result;
}

/*
 * A lease that lasts as long as this process: open (never following a link)
 * and take an exclusive, non-blocking flock. The kernel drops it when the
 * process dies, however it dies. Returns the fd, or -errno (-EWOULDBLOCK:
 * someone else holds it).
 */
napi_value lock_file(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  char *path = get_cstring(env, args[0], "path");
  if (!path) return NULL;
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  int err = errno;
  free(path);
  if (fd < 0) return make_int(env, -(int64_t)err);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    err = errno;
    close(fd);
    return make_int(env, -(int64_t)err);
  }
  return make_int(env, fd);
}
