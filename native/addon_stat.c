/*
 * stat(2) of many paths in one call, for the policy planners' path checks
 * (src/policy/path-cache.ts): what each names now (device, inode, file type),
 * without a Stats object per path.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addon.h"
#include "addon_napi.h"

/* Paths per call: far more than a sandbox policy resolves, few enough that a bad call asks for little. */
#define STAT_MAX_PATHS 4096u
/* Uint32 words per path; src/native/binding.ts (STAT_WORDS) reads them. */
#define STAT_WORDS 6u

/* paths[i] into buf (or a malloc'd string when it is longer), refusing NULs. NULL after a throw. */
static char *path_at(napi_env env, napi_value value, uint32_t i, char *buf, size_t size) {
  char name[32];
  snprintf(name, sizeof name, "paths[%u]", i);
  return get_cstring_into(env, value, name, buf, size);
}

/*
 * statPaths(paths): a Uint32Array of STAT_WORDS words per path, in order:
 * errno (0 when stat succeeded), st_mode & S_IFMT, st_dev high and low
 * words, st_ino high and low words. Follows symlinks, as stat(2) does.
 */
napi_value stat_paths(napi_env env, napi_callback_info info) {
  napi_value args[1];
  if (!get_args(env, info, 1, args, NULL)) return NULL;
  bool is_array = false;
  if (napi_is_array(env, args[0], &is_array) != napi_ok || !is_array)
    return throw_type(env, "paths must be an array of strings");
  uint32_t count = 0;
  CHECK_NAPI(env, napi_get_array_length(env, args[0], &count));
  if (count > STAT_MAX_PATHS) {
    char message[64];
    snprintf(message, sizeof message, "paths must have at most %u entries", STAT_MAX_PATHS);
    return throw_range(env, message);
  }
  void *data = NULL;
  napi_value buffer, result;
  CHECK_NAPI(env, napi_create_arraybuffer(env, (size_t)count * STAT_WORDS * sizeof(uint32_t), &data, &buffer));
  CHECK_NAPI(env, napi_create_typedarray(env, napi_uint32_array, (size_t)count * STAT_WORDS, buffer, 0, &result));
  uint32_t *out = data;
  char buf[PATH_MAX + 1];
  for (uint32_t i = 0; i < count; i++, out += STAT_WORDS) {
    napi_value element;
    CHECK_NAPI(env, napi_get_element(env, args[0], i, &element));
    char *path = path_at(env, element, i, buf, sizeof buf);
    if (!path) return NULL;
    struct stat st;
    int rc = stat(path, &st);
    int err = errno;
    if (path != buf) free(path);
    if (rc != 0) {
      out[0] = (uint32_t)err;
      out[1] = out[2] = out[3] = out[4] = out[5] = 0;
      continue;
    }
    uint64_t dev = (uint64_t)st.st_dev, ino = (uint64_t)st.st_ino;
    out[0] = 0;
    out[1] = (uint32_t)(st.st_mode & S_IFMT);
    out[2] = (uint32_t)(dev >> 32);
    out[3] = (uint32_t)dev;
    out[4] = (uint32_t)(ino >> 32);
    out[5] = (uint32_t)ino;
  }
  return result;
}
