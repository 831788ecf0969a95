/*
 * bench_s6: tether beside its closest cousin, Debian's s6 fd holder,
 * measured as a shell user meets them: one process per operation.
 *
 *   take     `tetherctl -s SOCK take FILE` against
 *            `s6-fdholder-store SOCK ID` (FILE on its standard input)
 *   give     `tetherctl -s SOCK give FD -- /bin/true` against
 *            `s6-fdholder-retrieve SOCK ID /bin/true`
 *   idle     the resident set (smaps_rollup's Rss) of a tetherd and an
 *            s6-fdholderd that have each served one request
 *
 * Each operation is a posix_spawn of the tool and a wait for it, timed
 * from the bench; the rows are interleaved, --runs times, each after
 * --warmup untimed operations.  Both servers keep every descriptor
 * stored (tetherctl take leaves an unlabeled one, s6 one per ID).  When
 * s6 is not installed the bench says so and exits 0.  Timing is only
 * reported, never judged: the exit status says whether something broke.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tether.h"
#include "bench_common.h"

#define BENCH_RUNS_MAX 20
#define BENCH_TARGET 1.0		/* tether / s6, every ratio */
#define BENCH_TRUE "/bin/true"
#define BENCH_S6_MAXFDS 10000		/* s6-fdholderd -n: its ceiling */

extern char **environ;

/* The s6 programs the bench runs, by their names on PATH. */
enum { S6_DAEMON, S6_STORE, S6_RETRIEVE, S6_FDHOLDERD, S6_NPROGS };
static const char *const s6_names[S6_NPROGS] = {
	"s6-fdholder-daemon", "s6-fdholder-store", "s6-fdholder-retrieve",
	"s6-fdholderd",
};

struct bench_opts {
	struct bench_args a;
	long ops;
	long warmup;
	long runs;
};

/* Everything the rows use. */
struct bench_ctx {
	struct bench_tetherd d;		/* d.t NULL once detached */
	char dir[BENCH_DIR_MAX];
	char file[128];			/* what take and store hold */
	char s6sock[128];
	char rules[128];
	char s6[S6_NPROGS][PATH_MAX];
	const char *tetherctl;
	pid_t s6pid;
	int file_fd;			/* s6-fdholder-store's stdin */
	int null_fd;			/* every tool's stdout */
	char give_fd[16];		/* the fd tetherctl give passes */
	long next_id;
};

struct bench_results {
	struct bench_series take, store, give, retrieve;
	long rss_tetherd, rss_s6, pss_tetherd, pss_s6;	/* KiB, -1 none */
	char cpus_self[64], cpus_tetherd[64], cpus_s6[64];
};

/* ---- finding and running programs --------------------------------- */

/* name's path on $PATH (or /usr/bin:/bin) into out; -ENOENT if none. */
static int bench_which(const char *name, char *out, size_t size)
{
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;
	int rc = -ENOENT;

	if (!(copy = strdup(path && *path ? path : "/usr/bin:/bin")))
		return -ENOMEM;
	for (dir = strtok_r(copy, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		if ((size_t)snprintf(out, size, "%s/%s", *dir ? dir : ".",
				     name) >= size)
			continue;
		if (access(out, X_OK) == 0) {
			rc = 0;
			break;
		}
	}
	free(copy);
	return rc;
}

/* Run argv with stdin as its standard input (-1: /dev/null's) and
 * stdout as its output (-1: /dev/null), wait: 0 if it exited 0, else
 * -EIO (-errno if it could not be started). */
static int bench_run(struct bench_ctx *c, const char *const argv[], int in,
		     int out)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int rc;

	if ((rc = posix_spawn_file_actions_init(&fa)))
		return -rc;
	rc = posix_spawn_file_actions_adddup2(&fa, in >= 0 ? in : c->null_fd,
					      0);
	if (!rc)
		rc = posix_spawn_file_actions_adddup2(&fa, out >= 0 ? out
								    : c->null_fd,
						      1);
	if (!rc)
		/* POSIX's argv is char *const[]; it is not written. */
		rc = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv,
				 environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc)
		return -rc;
	return bench_reap(pid);
}

/* ---- the rows -------------------------------------------------------- */

static int bench_take(void *ctx, long n)
{
	struct bench_ctx *c = ctx;
	const char *argv[] = { c->tetherctl, "-s", c->d.sock, "take",
			 c->file, NULL };

	for (long i = 0; i < n; i++) {
		int rc = bench_run(c, argv, -1, -1);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int bench_store(void *ctx, long n)
{
	struct bench_ctx *c = ctx;
	char id[32];
	const char *argv[] = { c->s6[S6_STORE], c->s6sock, id, NULL };

	for (long i = 0; i < n; i++) {
		int rc;

		snprintf(id, sizeof(id), "unix:take-%ld", c->next_id++);
		if ((rc = bench_run(c, argv, c->file_fd, -1)) < 0)
			return rc;
	}
	return 0;
}

static int bench_give(void *ctx, long n)
{
	struct bench_ctx *c = ctx;
	const char *argv[] = { c->tetherctl, "-s", c->d.sock, "give",
			 c->give_fd, "--", BENCH_TRUE, NULL };

	for (long i = 0; i < n; i++) {
		int rc = bench_run(c, argv, -1, -1);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int bench_retrieve(void *ctx, long n)
{
	struct bench_ctx *c = ctx;
	const char *argv[] = { c->s6[S6_RETRIEVE], c->s6sock, "unix:give",
			 BENCH_TRUE, NULL };

	for (long i = 0; i < n; i++) {
		int rc = bench_run(c, argv, -1, -1);

		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---- set-up ---------------------------------------------------------- */

/* path's contents, or -errno. */
static int bench_write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
				    O_NOFOLLOW, 0600), rc;

	if (fd < 0)
		return -errno;
	rc = bench_write_full(fd, text, strlen(text));
	close(fd);
	return rc;
}

/* The rules directory: our uid may store and retrieve any unix: ID. */
static int bench_s6_rules(struct bench_ctx *c)
{
	const char *sub[] = { "", "/uid", NULL, NULL };
	char uid[64], env[64], path[256];
	int rc;

	snprintf(uid, sizeof(uid), "/uid/%u", (unsigned)geteuid());
	snprintf(env, sizeof(env), "/uid/%u/env", (unsigned)geteuid());
	sub[2] = uid;
	sub[3] = env;
	for (int i = 0; i < 4; i++) {
		snprintf(path, sizeof(path), "%s%s", c->rules, sub[i]);
		if (mkdir(path, 0700) < 0)
			return -errno;
	}
	snprintf(path, sizeof(path), "%s%s/allow", c->rules, uid);
	if ((rc = bench_write_file(path, "")) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s%s/S6_FDHOLDER_STORE_REGEX", c->rules,
		 env);
	if ((rc = bench_write_file(path, "^unix:\n")) < 0)
		return rc;
	snprintf(path, sizeof(path), "%s%s/S6_FDHOLDER_RETRIEVE_REGEX",
		 c->rules, env);
	return bench_write_file(path, "^unix:\n");
}

/* s6-fdholder-daemon -1: bound, then exec'd into s6-fdholderd (same
 * pid), which says it is ready with a newline on fd 1. */
static int bench_s6_start(struct bench_ctx *c, const struct bench_opts *o)
{
	char maxfds[32], line[8];
	pid_t self = getpid();
	int p[2], rc;

	snprintf(maxfds, sizeof(maxfds), "%ld",
		 (o->ops + o->warmup) * o->runs + 16 > BENCH_S6_MAXFDS
			 ? (long)BENCH_S6_MAXFDS
			 : (o->ops + o->warmup) * o->runs + 16);
	if ((rc = bench_s6_rules(c)) < 0)
		return bench_fail("s6 rules directory", rc);
	if (pipe2(p, O_CLOEXEC) < 0)
		return bench_fail("pipe", -errno);
	fflush(NULL);
	if ((c->s6pid = fork()) < 0) {
		rc = -errno;
		close(p[0]);
		close(p[1]);
		return bench_fail("fork", rc);
	}
	if (c->s6pid == 0) {
		const char *argv[] = { c->s6[S6_DAEMON], "-1", "-n", maxfds, "-i",
				 c->rules, c->s6sock, NULL };

		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 ||
		    getppid() != self || dup2(p[1], 1) < 0 ||
		    dup2(c->null_fd, 0) < 0)
			_exit(126);
		if (o->a.pin == PIN_CROSS && bench_pin_pid(0, BENCH_CPU_PEER) < 0)
			_exit(126);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	bench_guard_pid(c->s6pid, true);
	close(p[1]);
	rc = bench_read_full(p[0], line, 1);
	close(p[0]);
	if (rc < 0 || line[0] != '\n')
		return bench_fail("s6-fdholder-daemon did not become ready",
				  rc < 0 ? rc : -EPROTO);
	return 0;
}

static void bench_s6_stop(struct bench_ctx *c)
{
	if (c->s6pid <= 0)
		return;
	kill(c->s6pid, SIGTERM);
	(void)bench_reap(c->s6pid);
	bench_guard_pid(c->s6pid, false);
	c->s6pid = -1;
}

/* A tetherd, persistent and detached so that tetherctl may attach. */
static int bench_tether_start(struct bench_ctx *c, const struct bench_opts *o)
{
	int rc = bench_tetherd_start(&c->d, c->dir, "tetherd", o->a.tetherd,
				     NULL, o->a.pin);

	if (!c->d.t)
		return rc;
	if (rc == 0 && (rc = tether_make_persistent(c->d.t)) < 0)
		fprintf(stderr, "bench: tether_make_persistent: %s (%s)\n",
			strerror(-rc), tether_last_error(c->d.t));
	tether_disconnect(c->d.t);
	c->d.t = NULL;
	return rc;
}

/* One request each, untimed: the fd give passes (take's answer), and
 * the ID retrieve asks for. */
static int bench_first_ops(struct bench_ctx *c)
{
	const char *take[] = { c->tetherctl, "-s", c->d.sock, "take",
			 c->file, NULL };
	const char *store[] = { c->s6[S6_STORE], c->s6sock, "unix:give", NULL };
	int p[2], rc;
	ssize_t n;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	rc = bench_run(c, take, -1, p[1]);
	close(p[1]);
	n = rc < 0 ? -1 : read(p[0], c->give_fd, sizeof(c->give_fd) - 1);
	close(p[0]);
	if (rc < 0)
		return bench_fail("tetherctl take", rc);
	if (n <= 0)
		return bench_fail("tetherctl take printed no fd", -EPROTO);
	c->give_fd[n] = '\0';
	c->give_fd[strcspn(c->give_fd, "\n")] = '\0';
	if ((rc = bench_run(c, store, c->file_fd, -1)) < 0)
		return bench_fail("s6-fdholder-store", rc);
	return 0;
}

/* pid's Rss and Pss in KiB (-1 when unreadable). */
static void bench_rss(pid_t pid, long *rss, long *pss)
{
	char path[64], line[128];
	FILE *f;

	*rss = *pss = -1;
	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	if (!(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Rss:", 4))
			*rss = strtol(line + 4, NULL, 10);
		else if (!strncmp(line, "Pss:", 4))
			*pss = strtol(line + 4, NULL, 10);
	}
	fclose(f);
}

static int bench_setup_all(struct bench_ctx *c, const struct bench_opts *o)
{
	int rc;

	if ((rc = bench_mkdir(c->dir)) < 0)
		return bench_fail("making a private directory", rc);
	if ((rc = bench_path(c->file, sizeof(c->file), c->dir, "held")) < 0 ||
	    (rc = bench_path(c->s6sock, sizeof(c->s6sock), c->dir,
			     "s6.sock")) < 0 ||
	    (rc = bench_path(c->rules, sizeof(c->rules), c->dir,
			     "s6.rules")) < 0)
		return bench_fail("paths", rc);
	bench_guard_dir(c->dir, NULL, 6);
	if ((rc = bench_write_file(c->file, "held by both\n")) < 0)
		return bench_fail("the held file", rc);
	if ((c->file_fd = open(c->file, O_RDONLY | O_CLOEXEC)) < 0 ||
	    (c->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return bench_fail("open", -errno);
	if ((rc = bench_tether_start(c, o)) < 0)
		return rc;
	if ((rc = bench_s6_start(c, o)) < 0)
		return rc;
	return bench_first_ops(c);
}

/* ---- measuring ------------------------------------------------------- */

static int bench_rows(struct bench_ctx *c, const struct bench_opts *o,
		      struct bench_results *res)
{
	static const struct {
		const char *what;
		bench_fn fn;
		size_t off;
	} rows[] = {
		{ "tetherctl take", bench_take,
		  offsetof(struct bench_results, take) },
		{ "s6-fdholder-store", bench_store,
		  offsetof(struct bench_results, store) },
		{ "tetherctl give", bench_give,
		  offsetof(struct bench_results, give) },
		{ "s6-fdholder-retrieve", bench_retrieve,
		  offsetof(struct bench_results, retrieve) },
	};

	for (long run = 0; run < o->runs; run++)
		for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
			struct bench_series *s =
				(struct bench_series *)((char *)res +
							rows[i].off);
			int rc = bench_measure(rows[i].fn, c, o->warmup,
					       o->ops, s);

			if (rc < 0)
				return bench_fail(rows[i].what, rc);
		}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* take, give, idle RSS: tether over s6 (-1 when missing). */
static void bench_ratios(const struct bench_results *res, double r[3])
{
	r[0] = bench_ratio(bench_median(&res->take),
			   bench_median(&res->store));
	r[1] = bench_ratio(bench_median(&res->give),
			   bench_median(&res->retrieve));
	r[2] = res->rss_tetherd > 0 && res->rss_s6 > 0
		       ? (double)res->rss_tetherd / (double)res->rss_s6
		       : -1;
}

static void bench_print_table(const struct bench_opts *o,
			      const struct bench_results *res)
{
	double r[3];

	bench_ratios(res, r);
	bench_layout.width = 34;
	bench_print_head(o->a.pin);
	printf("affinity: bench and tools %s, tetherd %s, s6-fdholderd %s\n",
	       res->cpus_self, res->cpus_tetherd, res->cpus_s6);
	printf("ops: %ld x %ld runs (warmup %ld), one process per op\n\n",
	       o->ops, o->runs, o->warmup);
	bench_print_heads("", "us/op median", "min run", "max run");
	bench_print_row("tetherctl take FILE", &res->take, BENCH_US);
	bench_print_row("s6-fdholder-store (FILE on 0)", &res->store,
			BENCH_US);
	bench_print_row("tetherctl give FD -- true", &res->give, BENCH_US);
	bench_print_row("s6-fdholder-retrieve ID true", &res->retrieve,
			BENCH_US);
	printf("\n%-*s %12s %12s\n", bench_layout.width, "idle, one request "
	       "served", "Rss KiB", "Pss KiB");
	printf("%-*s %12ld %12ld\n", bench_layout.width, "tetherd",
	       res->rss_tetherd, res->pss_tetherd);
	printf("%-*s %12ld %12ld\n\n", bench_layout.width, "s6-fdholderd",
	       res->rss_s6, res->pss_s6);
	bench_print_ratio("take / s6-fdholder-store", r[0]);
	bench_print_ratio("give / s6-fdholder-retrieve", r[1]);
	bench_print_ratio("idle Rss tetherd / s6-fdholderd", r[2]);
	printf("target: take <= %.1f: %s\n", BENCH_TARGET,
	       bench_verdict(r[0], BENCH_TARGET, true));
	printf("target: give <= %.1f: %s\n", BENCH_TARGET,
	       bench_verdict(r[1], BENCH_TARGET, true));
	printf("target: idle Rss <= %.1f: %s\n", BENCH_TARGET,
	       bench_verdict(r[2], BENCH_TARGET, true));
}

static void bench_print_json(const struct bench_opts *o,
			     const struct bench_results *res)
{
	double r[3];

	bench_ratios(res, r);
	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"tetherd\": \"%s\", "
	       "\"s6_fdholderd\": \"%s\"},\n", res->cpus_self,
	       res->cpus_tetherd, res->cpus_s6);
	printf("  \"skipped\": false,\n  \"ops\": %ld,\n  \"warmup\": %ld,\n"
	       "  \"runs\": %ld,\n", o->ops, o->warmup, o->runs);
	bench_json_series("tether_take", &res->take, BENCH_US);
	bench_json_series("s6_store", &res->store, BENCH_US);
	bench_json_series("tether_give", &res->give, BENCH_US);
	bench_json_series("s6_retrieve", &res->retrieve, BENCH_US);
	printf("  \"idle_rss_kib\": {\"tetherd\": %ld, \"s6_fdholderd\": %ld},"
	       "\n  \"idle_pss_kib\": {\"tetherd\": %ld, \"s6_fdholderd\": "
	       "%ld},\n", res->rss_tetherd, res->rss_s6, res->pss_tetherd,
	       res->pss_s6);
	bench_json_ratio("ratio_take_s6", r[0], false);
	bench_json_ratio("ratio_give_s6", r[1], false);
	bench_json_ratio("ratio_idle_rss_s6", r[2], false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("take_target_met", r[0], BENCH_TARGET, true, false);
	bench_json_met("give_target_met", r[1], BENCH_TARGET, true, false);
	bench_json_met("rss_target_met", r[2], BENCH_TARGET, true, true);
	printf("}\n");
}

/* No s6: a message, exit 0 (it is an optional comparison). */
static int bench_skip(const struct bench_opts *o, const char *missing)
{
	if (o->a.json)
		printf("{\n  \"skipped\": true,\n  \"reason\": \"%s not found "
		       "on PATH: Debian's s6 is not installed\"\n}\n",
		       missing);
	else
		printf("bench_s6: skipped: %s not found on PATH (Debian's s6 "
		       "is not installed; apt-get install s6)\n", missing);
	return 0;
}

int main(int argc, char **argv)
{
	struct bench_opts o = { .ops = 100, .warmup = 10, .runs = 5 };
	const struct bench_opt opts[] = {
		{ .name = "ops", .help = "timed operations a run and row",
		  .num = &o.ops, .min = 1, .max = 1000 },
		{ .name = "warmup", .help = "untimed ones before them",
		  .num = &o.warmup, .min = 0, .max = 1000 },
		{ .name = "runs", .help = "runs of each row, interleaved",
		  .num = &o.runs, .min = 1, .max = BENCH_RUNS_MAX },
		{ .name = NULL },
	};
	struct bench_ctx c = { .file_fd = -1, .null_fd = -1, .s6pid = -1 };
	static struct bench_results res;
	int rc, status = 0;

	if (bench_args_parse(argc, argv, "tetherd and s6-fdholderd", opts,
			     &o.a) < 0)
		return 2;
	for (int i = 0; i < S6_NPROGS; i++)
		if (bench_which(s6_names[i], c.s6[i], sizeof(c.s6[i])) < 0)
			return bench_skip(&o, s6_names[i]);
	c.tetherctl = getenv("TETHERCTL");
	if (!c.tetherctl || !*c.tetherctl)
		c.tetherctl = "./controller/tetherctl";
	if (access(c.tetherctl, X_OK) < 0) {
		fprintf(stderr, "bench_s6: %s: %s (run from the build "
			"directory or set TETHERCTL)\n", c.tetherctl,
			strerror(errno));
		return 1;
	}
	if (bench_setup(o.a.pin) < 0)
		return 1;
	res.rss_tetherd = res.rss_s6 = res.pss_tetherd = res.pss_s6 = -1;
	if ((rc = bench_setup_all(&c, &o)) < 0) {
		status = 1;
		goto out;
	}
	bench_rss(c.d.pid, &res.rss_tetherd, &res.pss_tetherd);
	bench_rss(c.s6pid, &res.rss_s6, &res.pss_s6);
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	bench_cpus(c.d.pid, res.cpus_tetherd, sizeof(res.cpus_tetherd));
	bench_cpus(c.s6pid, res.cpus_s6, sizeof(res.cpus_s6));
	if (bench_rows(&c, &o, &res) < 0)
		status = 1;
	if (o.a.json)
		bench_print_json(&o, &res);
	else
		bench_print_table(&o, &res);
out:
	bench_s6_stop(&c);
	/* tetherd: attach once more to shut it down. */
	if (c.d.pid > 0 && tether_connect(c.d.sock, 0, &c.d.t) < 0) {
		kill(c.d.pid, SIGKILL);
		c.d.t = NULL;
	}
	if (bench_tetherd_stop(&c.d) < 0)
		status = 1;
	if (c.dir[0] && bench_rmdir(c.dir, 6) < 0)
		status = 1;
	if (c.file_fd >= 0)
		close(c.file_fd);
	if (c.null_fd >= 0)
		close(c.null_fd);
	return status;
}
