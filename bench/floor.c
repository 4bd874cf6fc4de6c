/*
 * posix-spawn-floor: the cheapest way a process can run another one and wait
 * for it on this machine. The benchmark compares every contender against it.
 *
 *   posix-spawn-floor [--json] [--warmup W] [--concurrency C] N FILE [ARGS...]
 *
 * Runs FILE N times after W warm-up runs (default 50) with posix_spawn
 * (glibc: clone(CLONE_VM|CLONE_VFORK), so the cost does not grow with our
 * size) and reaps each child with waitpid. stdin and stdout of FILE are
 * /dev/null, because our stdout carries the results; stderr is inherited.
 *
 * Output (text): one duration per measured run in nanoseconds, one per line,
 * so the caller computes percentiles with the same code it uses for the
 * other contenders. With --concurrency C, C children are kept in flight;
 * each line is then the latency of one operation (spawn to reap) and a last
 * line starting with '#' gives the throughput.
 * Output (--json): one line,
 *   {"runs":N,"warmup":W,"concurrency":C,"totalNs":T,"opsPerSec":R,"durationsNs":[...]}
 *
 * Exit status: 0 on success; 1 if a child could not be started or did not
 * exit 0, so a broken contender (say bwrap without user namespaces) is never
 * timed as if it had worked; 2 on a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum {
	MAX_RUNS = 10 * 1000 * 1000,
	MAX_WARMUP = 100 * 1000,
	MAX_CONCURRENCY = 1024,
	DEFAULT_WARMUP = 50,
};

struct floor_config {
	int json;
	long runs;
	long warmup;
	long concurrency;
	const char *file;
	char *const *argv;
};

struct in_flight {
	pid_t pid;
	uint64_t started_ns;
};

/* Static: the slot table must not depend on an allocation that can fail midway. */
static struct in_flight slots[MAX_CONCURRENCY];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: posix-spawn-floor [--json] [--warmup W] [--concurrency C] N FILE [ARGS...]\n"
		"  Runs FILE N times (after W warm-up runs, default %d) with posix_spawn + waitpid\n"
		"  and prints each run's duration in nanoseconds, one per line.\n",
		DEFAULT_WARMUP);
}

/* 0 and *out set, or -EINVAL if text is not a whole decimal number in [min, max]. */
static int parse_long(const char *text, long min, long max, long *out)
{
	char *end = NULL;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max)
		return -EINVAL;
	*out = value;
	return 0;
}

static int parse_args(int argc, char **argv, struct floor_config *cfg)
{
	int i;

	cfg->json = 0;
	cfg->warmup = DEFAULT_WARMUP;
	cfg->concurrency = 1;
	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else if (strcmp(argv[i], "--json") == 0) {
			cfg->json = 1;
		} else if (strcmp(argv[i], "--warmup") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], 0, MAX_WARMUP, &cfg->warmup) < 0)
				return -EINVAL;
		} else if (strcmp(argv[i], "--concurrency") == 0 && i + 1 < argc) {
			if (parse_long(argv[++i], 1, MAX_CONCURRENCY, &cfg->concurrency) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	if (argc - i < 2)
		return -EINVAL;
	if (parse_long(argv[i], 1, MAX_RUNS, &cfg->runs) < 0)
		return -EINVAL;
	cfg->file = argv[i + 1];
	/* FILE doubles as argv[0], as callers of execvp usually pass it. */
	cfg->argv = &argv[i + 1];
	return 0;
}

/* A name without a slash is looked up in PATH, as a shell would. */
static int spawn_one(const struct floor_config *cfg, const posix_spawn_file_actions_t *actions,
		     pid_t *pid)
{
	int err;

	if (strchr(cfg->file, '/') != NULL)
		err = posix_spawn(pid, cfg->file, actions, NULL, cfg->argv, environ);
	else
		err = posix_spawnp(pid, cfg->file, actions, NULL, cfg->argv, environ);
	if (err != 0) {
		fprintf(stderr, "posix-spawn-floor: posix_spawn %s: %s\n", cfg->file, strerror(err));
		return -err;
	}
	return 0;
}

static int check_status(int status)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFEXITED(status))
		fprintf(stderr, "posix-spawn-floor: child exited with status %d\n", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		fprintf(stderr, "posix-spawn-floor: child killed by signal %d\n", WTERMSIG(status));
	return -ECHILD;
}

/*
 * Waits for `want` (or, with several in flight, for whichever child ends
 * first: this program has no other children). 0 and *reaped set, or -errno.
 */
static int reap(pid_t want, pid_t *reaped)
{
	int status = 0;
	pid_t got;

	do
		got = waitpid(want, &status, 0);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		int err = errno;

		fprintf(stderr, "posix-spawn-floor: waitpid: %s\n", strerror(err));
		return -err;
	}
	*reaped = got;
	return check_status(status);
}

static struct in_flight *slot_of(pid_t pid, long in_use)
{
	long i;

	for (i = 0; i < in_use; i++)
		if (slots[i].pid == pid)
			return &slots[i];
	return NULL;
}

/*
 * Runs `count` operations, `concurrency` at a time. When durations is not
 * NULL, the latency of operation i (in the order they end) goes to
 * durations[i]. *total_ns gets the wall time of the whole batch.
 * On failure, children still in flight are reaped before returning.
 */
static int run_batch(const struct floor_config *cfg, const posix_spawn_file_actions_t *actions,
		     long count, uint64_t *durations, uint64_t *total_ns)
{
	long started = 0, finished = 0, in_use = 0;
	uint64_t batch_start = now_ns();
	int ret = 0;

	while (finished < count) {
		struct in_flight *slot;
		pid_t pid = 0;
		int err;

		while (ret == 0 && started < count && in_use < cfg->concurrency) {
			slots[in_use].started_ns = now_ns();
			err = spawn_one(cfg, actions, &slots[in_use].pid);
			if (err < 0) {
				ret = err;
				break;
			}
			in_use++;
			started++;
		}
		if (in_use == 0)
			break;
		err = reap(in_use == 1 ? slots[0].pid : -1, &pid);
		slot = slot_of(pid, in_use);
		if (slot == NULL) {
			/* Only reachable if reap failed outright: nothing more can be waited for. */
			return ret < 0 ? ret : (err < 0 ? err : -ECHILD);
		}
		if (durations != NULL && err == 0)
			durations[finished] = now_ns() - slot->started_ns;
		if (err < 0 && ret == 0)
			ret = err;
		*slot = slots[--in_use];
		finished++;
		if (ret < 0)
			count = started; /* drain what is in flight, start nothing new */
	}
	*total_ns = now_ns() - batch_start;
	return ret;
}

static void print_results(const struct floor_config *cfg, const uint64_t *durations,
			  uint64_t total_ns)
{
	double ops_per_sec = total_ns > 0 ? (double)cfg->runs * 1e9 / (double)total_ns : 0.0;
	long i;

	if (cfg->json) {
		printf("{\"runs\":%ld,\"warmup\":%ld,\"concurrency\":%ld,\"totalNs\":%" PRIu64
		       ",\"opsPerSec\":%.1f,\"durationsNs\":[",
		       cfg->runs, cfg->warmup, cfg->concurrency, total_ns, ops_per_sec);
		for (i = 0; i < cfg->runs; i++)
			printf("%s%" PRIu64, i == 0 ? "" : ",", durations[i]);
		printf("]}\n");
		return;
	}
	for (i = 0; i < cfg->runs; i++)
		printf("%" PRIu64 "\n", durations[i]);
	if (cfg->concurrency > 1)
		printf("# concurrency=%ld runs=%ld total_ns=%" PRIu64 " ops_per_sec=%.1f\n",
		       cfg->concurrency, cfg->runs, total_ns, ops_per_sec);
}

int main(int argc, char **argv)
{
	struct floor_config cfg;
	posix_spawn_file_actions_t actions;
	uint64_t *durations;
	uint64_t total_ns = 0;
	int devnull, err;

	if (parse_args(argc, argv, &cfg) < 0) {
		usage();
		return 2;
	}
	durations = calloc((size_t)cfg.runs, sizeof(*durations));
	if (durations == NULL) {
		fprintf(stderr, "posix-spawn-floor: out of memory for %ld samples\n", cfg.runs);
		return 1;
	}
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0) {
		fprintf(stderr, "posix-spawn-floor: /dev/null: %s\n", strerror(errno));
		free(durations);
		return 1;
	}
	/* dup2 in the child clears close-on-exec on 0 and 1 only. */
	err = posix_spawn_file_actions_init(&actions);
	if (err == 0)
		err = posix_spawn_file_actions_adddup2(&actions, devnull, STDIN_FILENO);
	if (err == 0)
		err = posix_spawn_file_actions_adddup2(&actions, devnull, STDOUT_FILENO);
	if (err != 0) {
		fprintf(stderr, "posix-spawn-floor: file actions: %s\n", strerror(err));
		close(devnull);
		free(durations);
		return 1;
	}

	err = 0;
	if (cfg.warmup > 0)
		err = run_batch(&cfg, &actions, cfg.warmup, NULL, &total_ns);
	if (err == 0)
		err = run_batch(&cfg, &actions, cfg.runs, durations, &total_ns);
	if (err == 0)
		print_results(&cfg, durations, total_ns);

	posix_spawn_file_actions_destroy(&actions);
	close(devnull);
	free(durations);
	if (err == 0 && fflush(stdout) != 0) {
		fprintf(stderr, "posix-spawn-floor: writing results: %s\n", strerror(errno));
		return 1;
	}
	return err == 0 ? 0 : 1;
}
