/*
 * One SPAWN: parse the plan, map its args file, open up its stdio pipes,
 * clone the child (which runs native/child.c), write its id maps, and fill
 * its slot in the child table.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "plan.h"
#include "probe.h"
#include "protocol.h"
#include "raw_syscall.h"
#include "util.h"
#include "wire.h"
#include "zygote.h"

_Static_assert(HATCH_ARGS_FILE_SEALS_REQUIRED == (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE),
               "protocol.h names the seals an args file needs");

static struct hatch_plan plan;

/*
 * How a child gets its memory. Copying the zygote's (fork) costs a new
 * address space and then a copy-on-write fault for every page either side
 * writes: about 1 ms on a VM where a CLONE_VM clone takes 80 µs
 * (docs/performance.md). So a child runs in the zygote's own memory, on a
 * stack of its own, while the zygote waits:
 *
 *   SHARED  clone(CLONE_VM). The child's first act is to wait for the
 *           zygote's word (the sync pipe: 0, or the errno of its id-map
 *           write); the zygote writes the maps, sends the word as its last
 *           act, and waits for EOF on the release pipe. The child's end of
 *           that pipe closes at the program's exec (close-on-exec) or the
 *           child's exit; a pid-namespace init closes its own copy as soon
 *           as its program has exec'd, and from then on makes only raw
 *           system calls and reads only its own stack (child.c), so the two
 *           never share errno or libc state while both run. A child without
 *           an init has no release pipe: its report pipe closes at the same
 *           moment, and is waited for instead (POLLHUP only, so reports
 *           written before it do not end the wait). Two pipes closed by one
 *           exec woke the zygote twice; the first wake ran the zygote before
 *           the exec had closed the second pipe, and the second wake then
 *           often waited for its CPU behind the new program (~1 ms,
 *           docs/performance.md).
 *   COPIED  fork semantics, for a tree removal (it may run long, and the
 *           zygote must not wait on it), for an init without a user
 *           namespace whose operation has no ids of its own (nothing would
 *           set it apart from its program, so it needs memory of its own,
 *           made not dumpable; an operation uid's init keeps the killer ids,
 *           plan.h), and for an init on an architecture without
 *           raw_syscall.h.
 *
 * While it waits the zygote serves nothing else. A child still setting up
 * after RELEASE_WAIT_MS (well below the heartbeat and the callers'
 * deadlines) is killed, its spawn fails at the clone stage with ETIMEDOUT,
 * and the zygote goes on once it is dead (or a second later: a killed task
 * never returns to user space).
 */
enum child_memory { SHARED, COPIED };
#define RELEASE_WAIT_MS 2000
#define KILLED_WAIT_MS 1000
#define CHILD_STACK_BYTES (256u * 1024u)
#define STACK_GUARD_BYTES (64u * 1024u)

static enum child_memory memory_for(uint32_t ns_flags) {
  if (plan.flags & HATCH_SPAWN_REMOVE_TREE) return COPIED;
  if (!(ns_flags & CLONE_NEWPID)) return SHARED;
  if (!(ns_flags & CLONE_NEWUSER) && !hatch_init_apart_by_ids(&plan)) return COPIED;
  return HATCH_HAVE_RAW_SYSCALL ? SHARED : COPIED;
}

void *hatch_map_stack(void) {
  size_t len = STACK_GUARD_BYTES + CHILD_STACK_BYTES;
  void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED) return NULL;
  if (mprotect(m, STACK_GUARD_BYTES, PROT_NONE) != 0) { /* overflow faults instead of writing below */
    (void)munmap(m, len);
    return NULL;
  }
  return (char *)m + len;
}

/* One stack per slot (its top), made on first use and kept: a slot is free only once its child is reaped. */
static void *child_stacks[HATCH_CHILD_SLOTS];

static void *stack_top_for(const struct child *c) {
  size_t slot = (size_t)(c - children);
  if (child_stacks[slot] == NULL) child_stacks[slot] = hatch_map_stack();
  return child_stacks[slot];
}

/* The child's first act: its own copy of its arguments, on its own stack (the zygote's frame is the zygote's). */
static int shared_child_main(void *arg) {
  struct hatch_child_args own = *(const struct hatch_child_args *)arg;
  hatch_child_run(&own);
}

/* CLONE_PARENT while the twin clones (ns_twin.c): the child is the zygote's, as every other. */
static int parent_flag;

static long clone_shared(uint32_t ns_flags, void *stack_top, struct hatch_child_args *args, int *pidfd) {
  return clone(shared_child_main, stack_top, (int)(CLONE_VM | CLONE_PIDFD | parent_flag | ns_flags | SIGCHLD), args,
               (pid_t *)pidfd);
}

/*
 * EOF on the release pipe, or on the report pipe of a child without an init
 * (`events` 0: only POLLHUP ends the wait); see enum child_memory. Returns 0,
 * or ETIMEDOUT when the child was killed.
 */
static int await_release(int release_fd, short events, int pidfd) {
  struct pollfd p = {.fd = release_fd, .events = events};
  if (poll(&p, 1, RELEASE_WAIT_MS) > 0) return 0;
  (void)pidfd_signal(pidfd, SIGKILL);
  struct pollfd dead = {.fd = pidfd, .events = POLLIN};
  (void)poll(&dead, 1, KILLED_WAIT_MS);
  hatch_log("a child still set up after %d ms: killed", RELEASE_WAIT_MS);
  return ETIMEDOUT;
}

/*
 * A credential change of a child in our memory (a root zygote's operation
 * uid, or kill_uid's helper) resets the memory's dumpable flag to
 * fs.suid_dumpable; the zygote was dumpable before, and stays so (its inits
 * are set apart by a capability).
 */
void hatch_keep_dumpable(void) {
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1) (void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

/*
 * COPIED: clone3 where it works; clone(CLONE_PIDFD) where a container's
 * seccomp profile answers clone3 with ENOSYS (Docker, containerd, Podman do,
 * so that their filter can inspect clone's flags) or EPERM. Both return the
 * pidfd and run the child on the zygote's stack copy: fork semantics.
 */
static int clone3_refused;

static long clone_copied(uint32_t ns_flags, int *pidfd) {
  if (!clone3_refused) {
    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_PIDFD | ns_flags;
    args.pidfd = (uint64_t)(uintptr_t)pidfd;
    args.exit_signal = SIGCHLD;
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || (errno != ENOSYS && errno != EPERM)) return pid;
    /* EPERM may be the namespaces, not clone3: only a clone that then works proves the filter. */
    int clone3_errno = errno;
    pid = syscall(SYS_clone, (unsigned long)(CLONE_PIDFD | ns_flags | SIGCHLD), 0, pidfd, NULL, 0);
    if (pid != 0 && (pid > 0 || clone3_errno == ENOSYS)) clone3_refused = 1;
    if (pid < 0 && clone3_errno == EPERM) errno = EPERM;
    return pid;
  }
  return syscall(SYS_clone, (unsigned long)(CLONE_PIDFD | ns_flags | SIGCHLD), 0, pidfd, NULL, 0);
}

/*
 * The args file of a SPAWN (HATCH_TAG_ARGS_FD), mapped read-only with a
 * pointer array beside it for argv and envp. Both are unmapped once the
 * child no longer reads them: after the release for a child in our memory,
 * right after clone for one with its own copy of every mapping.
 * The file's pages are shared with Node's memfd; the pointer array holds
 * exactly one pointer per string and the two NULLs.
 */
struct args_mapping {
  void *file;
  size_t file_len;
  void *slots;
  size_t slots_len;
};

static void unmap_args(struct args_mapping *m) {
  if (m->file != NULL) (void)munmap(m->file, m->file_len);
  if (m->slots != NULL) (void)munmap(m->slots, m->slots_len);
  memset(m, 0, sizeof *m);
}

/* Returns 0 or -errno (reported as HATCH_STAGE_CLONE). Consumes nothing: the caller closes stdio and unmaps args. */
static int start_child(struct child *c, uint32_t id, const int stdio[3], const struct args_mapping *args) {
  hatch_autoclose int err_read = -1;
  hatch_autoclose int err_write = -1;
  hatch_autoclose int sync_read = -1;
  hatch_autoclose int sync_write = -1;
  hatch_autoclose int release_read = -1;
  hatch_autoclose int release_write = -1;
  int pipe_fds[2];
  /*
   * The zygote's end is non-blocking (it drains reports until EAGAIN); the
   * child's stays blocking, so a report is never dropped if the zygote is
   * slow to read (a few hundred bytes at most, far below a pipe's capacity).
   */
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -errno;
  err_read = pipe_fds[0];
  err_write = pipe_fds[1];
  if (fcntl(err_read, F_SETFL, O_NONBLOCK) != 0) return -errno;
  uint32_t ns_flags = plan.has_namespaces ? plan.namespaces.clone_flags : 0;
  int new_user_ns = (ns_flags & CLONE_NEWUSER) != 0;
  enum child_memory memory = memory_for(ns_flags);
  /* The zygote's word (enum child_memory): the id-map result, and for a shared child the go-ahead. */
  if (new_user_ns || memory == SHARED) {
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -errno;
    sync_read = pipe_fds[0];
    sync_write = pipe_fds[1];
  }
  void *stack_top = NULL;
  int has_init = (ns_flags & CLONE_NEWPID) != 0;
  if (memory == SHARED) {
    if ((stack_top = stack_top_for(c)) == NULL) return -errno;
    if (has_init) {
      if (pipe2(pipe_fds, O_CLOEXEC) != 0) return -errno;
      release_read = pipe_fds[0];
      release_write = pipe_fds[1];
    }
  }
  struct hatch_child_args child = {
      .plan = &plan,
      .stdio = {stdio[0], stdio[1], stdio[2]},
      .err_fd = err_write,
      .sync_fd = sync_read,
      .sync_peer_fd = sync_write,
      .release_fd = release_write,
      .shares_zygote_memory = memory == SHARED,
      .zygote_pid = zygote_pid,
      .args_file = args->file,
      .args_file_len = args->file_len,
      .args_slots = args->slots,
      .args_slots_len = args->slots_len,
  };

  int pidfd = -1;
  uint64_t parsed_ns = hatch_now_ns();
  uint32_t clone_ns = ns_flags;
  int stocked_net = -1;
  /* While a twin runs, the stock is its own: only the spawns it starts take from it. */
  int stocked = parent_flag || !ns_twin_running() ? ns_stock_enter(&plan, &clone_ns, &stocked_net) : 0;
  long pid = memory == COPIED ? clone_copied(clone_ns, &pidfd) : clone_shared(clone_ns, stack_top, &child, &pidfd);
  int clone_errno = errno;
  if (pid == 0) hatch_child_run(&child); /* COPIED only: a shared child starts in shared_child_main */
  ns_stock_leave(stocked);
  if (pid < 0) {
    ns_stock_take_back(&stocked_net); /* no process was ever in it */
    return -clone_errno;
  }
  uint64_t cloned_ns = hatch_now_ns();

  /* Only the child may hold the write ends, or EOF would never report the exec (or the release). */
  hatch_closep(&err_write);
  hatch_closep(&sync_read);
  hatch_closep(&release_write);
  uint64_t id_maps_ns = 0;
  int32_t word = 0;
  if (new_user_ns) {
    /* 0, or the errno of the write that failed: the child reports it at HATCH_STAGE_USERNS. */
    int rc = hatch_parent_write_id_maps(&plan, (int)pid, geteuid(), getegid());
    id_maps_ns = hatch_now_ns(); /* before the child can go on */
    word = rc == 0 ? 0 : -rc;
    if (rc != 0) hatch_log("writing id maps for spawn %u failed: %s", id, strerror(-rc));
  }
  /* The last act before the wait: the child goes on from here (see enum child_memory). */
  if (sync_write >= 0) (void)hatch_write_all(sync_write, &word, sizeof word);
  int setup_killed = 0;
  if (memory == SHARED) {
    setup_killed = has_init ? await_release(release_read, POLLIN, pidfd) : await_release(err_read, 0, pidfd);
    hatch_keep_dumpable();
  }
  hatch_closep(&sync_write);
  uint64_t released_ns = memory == COPIED ? 0 : hatch_now_ns();

  memset(c, 0, sizeof *c);
  c->used = 1;
  c->id = id;
  c->pid = (pid_t)pid;
  c->pidfd = pidfd;
  c->err_fd = err_read;
  err_read = -1;
  c->timer_fd = -1;
  c->kill_state = KILL_NONE;
  c->timeout_ms = plan.has_timeout ? plan.timeout.timeout_ms : 0;
  c->grace_ms = plan.has_timeout ? plan.timeout.grace_ms : DEFAULT_GRACE_MS;
  c->term_signal = plan.has_timeout ? plan.timeout.term_signal : SIGTERM;
  c->exec_ns = hatch_now_ns();
  c->has_init = has_init;
  c->has_kill_uid = (plan.flags & HATCH_SPAWN_KILL_UID) && plan.has_credentials && plan.uid != 0 && geteuid() == 0;
  c->kill_uid = plan.uid;
  c->tmp_fd = -1;
  c->stocked_net = stocked_net;
  c->setup_killed = setup_killed;
  if (plan.has_private_tmp && strlen(plan.private_tmp_path) < sizeof c->tmp_path)
    memcpy(c->tmp_path, plan.private_tmp_path, strlen(plan.private_tmp_path) + 1);
  if (plan.flags & HATCH_SPAWN_TRACE) {
    c->tracing = 1;
    c->trace_ns[HATCH_TRACE_RECEIVED] = received_ns;
    c->trace_ns[HATCH_TRACE_PARSED] = parsed_ns;
    c->trace_ns[HATCH_TRACE_CLONED] = cloned_ns;
    c->trace_ns[HATCH_TRACE_ID_MAPS] = id_maps_ns;
    c->trace_ns[HATCH_TRACE_RELEASED] = released_ns;
  }
  live_children++;
  running_children++;
  return 0;
}

struct start_call {
  struct child *c;
  uint32_t id;
  const int *stdio;
  const struct args_mapping *args;
};

static int start_in_twin(void *arg) {
  const struct start_call *call = arg;
  parent_flag = CLONE_PARENT;
  int rc = start_child(call->c, call->id, call->stdio, call->args);
  parent_flag = 0;
  return rc;
}

/*
 * A child without credentials that makes user, network, IPC and UTS
 * namespaces, in our memory, while this zygote cannot stock them itself: the
 * twin starts it (ns_twin.c). The rest (the answer, and reaping a child that
 * failed) stays here: the child is the zygote's, which only the zygote may
 * wait for.
 */
static int start_child_where_it_can(struct child *c, uint32_t id, const int stdio[3], const struct args_mapping *args) {
  uint32_t ns_flags = plan.has_namespaces ? plan.namespaces.clone_flags : 0;
  if (memory_for(ns_flags) == SHARED && ns_twin_serves(&plan)) {
    struct start_call call = {c, id, stdio, args};
    return ns_twin_call(start_in_twin, &call);
  }
  return start_child(c, id, stdio, args);
}

/*
 * Returns 0, a positive enum hatch_error_code with *why (a malformed
 * request), or -errno (the zygote could not map it: SPAWN_FAILED at clone).
 * Only a sealed memfd is taken: its size and bytes cannot change under the
 * mapping, so the parse holds until exec and no truncation can SIGBUS us.
 */
static int map_args_file(int fd, struct args_mapping *m, const char **why) {
  memset(m, 0, sizeof *m);
  struct stat st;
  if (fstat(fd, &st) != 0) return -errno;
  if (!S_ISREG(st.st_mode)) {
    *why = "the args fd is not a regular file";
    return HATCH_ERR_BAD_FDS;
  }
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0 || (seals & HATCH_ARGS_FILE_SEALS_REQUIRED) != HATCH_ARGS_FILE_SEALS_REQUIRED) {
    *why = "the args fd is not a memfd sealed against shrinking, growing and writing";
    return HATCH_ERR_BAD_FDS;
  }
  if (st.st_size < 0 || (uint64_t)st.st_size != plan.args_file_length) {
    *why = "the args file's size disagrees with its ARGS_FD record";
    return HATCH_ERR_MALFORMED;
  }
  size_t len = (size_t)plan.args_file_length; /* <= HATCH_MAX_ARGS_FILE, checked by the parse */
  void *file = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
  if (file == MAP_FAILED) return -errno;
  m->file = file;
  m->file_len = len;
  /* Exactly the slots the records need (at most len / 16 + 2), populated in one go: faulting them in one by one costs more than the parse. */
  size_t argc, envc;
  hatch_count_args_file(file, len, &argc, &envc);
  m->slots_len = (argc + 1 + envc + 1) * sizeof(const char *);
  void *slots = mmap(NULL, m->slots_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (slots == MAP_FAILED) {
    int err = errno;
    unmap_args(m);
    return -err;
  }
  m->slots = slots;
  const char **argv = (const char **)slots;
  int code = hatch_parse_args_file(file, len, &plan, argv, argc, argv + argc + 1, envc, why);
  if (code != 0) unmap_args(m);
  return code;
}

void handle_spawn(const struct hatch_header *h, int fds[], unsigned nfds) {
  const char *why = NULL;
  int code = hatch_parse_spawn(rx + HATCH_HEADER_SIZE, h->body_length, nfds, &plan, &why);
  struct child *c = NULL;
  struct args_mapping args = {0};
  if (code == 0 && find_child(h->id) != NULL) code = HATCH_ERR_MALFORMED, why = "spawn id already running";
  if (code == 0 && (c = free_slot()) == NULL) code = HATCH_ERR_TOO_MANY_CHILDREN, why = "too many children";
  int map_err = 0;
  if (code == 0 && plan.has_args_file) {
    int rc = map_args_file(fds[ARGS_FD_INDEX], &args, &why);
    if (rc < 0) map_err = -rc;
    else code = rc;
  }
  /* The mapping holds the file: the fd is not needed past here, and is never the child's. */
  if (nfds > STDIO_FDS) close_fds(fds + STDIO_FDS, nfds - STDIO_FDS);
  if (code != 0 || map_err != 0) {
    close_fds(fds, STDIO_FDS);
    if (code != 0) send_error(h->id, code, why);
    else send_datagram(tx, hatch_encode_spawn_failed(tx, h->id, HATCH_STAGE_CLONE, map_err), -1);
    return;
  }
  int rc = start_child_where_it_can(c, h->id, fds, &args);
  unmap_args(&args);
  close_fds(fds, STDIO_FDS);
  if (rc != 0) {
    send_datagram(tx, hatch_encode_spawn_failed(tx, h->id, HATCH_STAGE_CLONE, -rc), -1);
    return;
  }
  /*
   * A child that shared our memory has exec'd or failed by now: answer
   * without another poll round (an init may still be confining itself; its
   * EXEC_OK then comes with a later one).
   */
  on_error_pipe(c);
}
