/*
 * N-API helpers shared by the addon's files (addon_napi.c). Readers throw a
 * TypeError or RangeError and return false / NULL when the value is wrong.
 */
#ifndef HATCHERY_ADDON_NAPI_H
#define HATCHERY_ADDON_NAPI_H

#define NAPI_VERSION 8
#include <node_api.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* spawnZygote's argv and env: a handful of strings, bounded so a bad call cannot ask for much. */
#define ZYGOTE_MAX_STRINGS 4096u

#define CHECK_NAPI(env, call)           \
  do {                                  \
    if ((call) != napi_ok) {            \
      throw_napi_failure((env), #call); \
      return NULL;                      \
    }                                   \
  } while (0)

void throw_napi_failure(napi_env env, const char *what);
const char *errno_name(int err);
/* Throws an Error shaped like Node's system errors. Returns NULL so callers
 * can `return throw_errno(...)`. */
napi_value throw_errno(napi_env env, const char *syscall_name, int err);
napi_value throw_type(napi_env env, const char *message);
napi_value throw_range(napi_env env, const char *message);

/* Reads an integer in [min, max]; throws and returns false otherwise. */
bool get_int(napi_env env, napi_value value, const char *name, int64_t min, int64_t max, int64_t *out);
bool get_fd(napi_env env, napi_value value, const char *name, int *out);
/* A malloc'd copy of a JS string without embedded NULs. */
char *get_cstring(napi_env env, napi_value value, const char *name);
/* get_cstring into buf when it fits (size bytes), else malloc'd: free a result that is not buf. */
char *get_cstring_into(napi_env env, napi_value value, const char *name, char *buf, size_t size);
void free_string_array(char **strings);
/* A JS string[] (at most ZYGOTE_MAX_STRINGS) as a malloc'd, NULL-terminated char*[] for execve. */
char **get_string_array(napi_env env, napi_value value, const char *name);
bool get_bytes(napi_env env, napi_value value, const char *name, void **data, size_t *length);
napi_value make_int(napi_env env, int64_t v);
napi_value make_null(napi_env env);
/* [a, b] for two fds the caller just opened; if that array cannot be made, both are closed and it throws (NULL). */
napi_value make_fd_pair(napi_env env, int a, int b, const char *what);
/* Collects exactly `expected` arguments; missing ones read as undefined. */
bool get_args(napi_env env, napi_callback_info info, size_t expected, napi_value *argv, napi_value *this_arg);

#endif
