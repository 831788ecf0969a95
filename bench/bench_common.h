/*
 * bench_common: the harness the benches share, so that their options,
 * baselines, statistics and reports are made one way.  What each bench
 * prints is its own (the rows, the JSON members: its format is its
 * contract); how a row, a ratio or a series is printed is here.
 *
 *   options    --pin same|cross|none, --tetherd, --json, --help, and a
 *              table of the bench's own numbers and switches
 *   pinning    the bench on BENCH_CPU_CLIENT, its peers (children,
 *              tetherd) on BENCH_CPU_PEER in cross mode
 *   processes  reaping a child, where a process runs
 *   signals    on INT, TERM or HUP: kill what the bench started, remove
 *              its private directories, die of the signal
 *   timing     the monotonic clock, one warmed-up timed measurement
 *   series     per-run values: median, extremes, ratios
 *   ping-pong  the raw baseline: a child on a socketpair answering a
 *              request frame of a given size with a reply frame
 *   tetherd    a private directory; starting a tetherd pinned, in it
 *   reporting  the report's head, rows, ratios, verdicts; the same as
 *              JSON members
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tether.h"

#define BENCH_CPU_CLIENT 0
#define BENCH_CPU_PEER 1
#define BENCH_SERIES_MAX 1000		/* runs (or rounds) a series holds */
#define BENCH_DIR_MAX 64		/* a private directory's path */

enum bench_pin { PIN_SAME, PIN_CROSS, PIN_NONE };

extern const char *const bench_pin_names[];	/* by enum bench_pin */

/* ---- options -------------------------------------------------------- */

/* What every bench takes. */
struct bench_args {
	enum bench_pin pin;
	bool json;
	const char *tetherd;		/* --tetherd, $TETHERD, the build's */
};

/* One of a bench's own options: a number in [min, max] into *num, or,
 * when num is NULL, a switch that sets *flag.  A table ends with a NULL
 * name. */
struct bench_opt {
	const char *name;		/* without the -- */
	const char *help;		/* a number's default follows it */
	long *num;
	long min, max;
	bool *flag;
};

/* Parse argv into a and the table's targets (which hold the defaults).
 * peers says what runs beside the bench, for the usage.  --help prints
 * the usage and exits 0; anything else wrong prints it on stderr and
 * returns -EINVAL. */
int bench_args_parse(int argc, char **argv, const char *peers,
		     const struct bench_opt *opts, struct bench_args *a);
/* --iterations and --warmup, as most benches take them: timed calls a
 * run (of each row) and untimed ones before them, up to max. */
#define BENCH_OPT_COUNTS(it_, wu_, max_)				\
	{ .name = "iterations", .help = "timed calls a run and row",	\
	  .num = (it_), .min = 1, .max = (max_) },			\
	{ .name = "warmup", .help = "untimed calls before them",	\
	  .num = (wu_), .min = 0, .max = (max_) }
/* Before anything is forked: pin the client as the mode asks, catch
 * the signals (see signals), ignore SIGPIPE (tetherd still starts with
 * it at its default); says why on stderr when it cannot. */
int bench_setup(enum bench_pin pin);
int bench_parse_long(const char *s, long min, long max, long *v);

/* ---- pinning and processes ------------------------------------------ */

int bench_pin_pid(pid_t pid, int cpu);	/* pid 0: the caller */
/* pid's allowed CPUs as "0,1" into buf ("?" when it cannot say, or
 * pid is not one). */
void bench_cpus(pid_t pid, char *buf, size_t size);
/* Reap our child pid: 0 if it exited 0, else -EIO (or -errno). */
int bench_reap(pid_t pid);

/* ---- signals -------------------------------------------------------- */

/* What the handler kills (on: add, else drop). */
void bench_guard_pid(pid_t pid, bool on);
/* What it removes, depth levels down, first (a big file) before the
 * rest (NULL: nothing first); bench_unguard_dir when it is gone.  A
 * directory guarded again is guarded as said the last time. */
void bench_guard_dir(const char *dir, const char *first, int depth);
void bench_unguard_dir(const char *dir);

/* ---- timing and series ---------------------------------------------- */

/* Per-run values (ns, mostly); n is how many runs completed.  A series
 * whose count the user picks (--rounds) has mean_even: an even count's
 * median is the mean of the middle two, not the upper one. */
struct bench_series {
	double ns[BENCH_SERIES_MAX];
	int n;
	bool mean_even;
};

/* n calls of whatever is measured; 0 or -errno. */
typedef int (*bench_fn)(void *ctx, long n);

/* A syscall without arguments (getpid), for bench_direct: raw (glibc's
 * wrappers may cache, this cannot), or for bench_tether: a round trip
 * through t, whose answer must be above 0. */
struct bench_nullcall {
	long nr;
	struct tether *t;
};

int bench_direct(void *ctx, long n);
int bench_tether(void *ctx, long n);

int bench_now(double *ns);
double bench_now_ns(void);		/* the same, as a value */
int bench_measure(bench_fn fn, void *ctx, long warmup, long n,
		  struct bench_series *s);

double bench_median(const struct bench_series *s);
double bench_extreme(const struct bench_series *s, bool max);
double bench_ratio(double a, double b);

int bench_write_full(int fd, const void *buf, size_t len);
int bench_read_full(int fd, void *buf, size_t len);

/* ---- the raw ping-pong ---------------------------------------------- */

/* The raw ping-pong: we write req, the child answers rep. */
struct bench_pingpong {
	int fd;
	pid_t pid;
	const void *req;
	size_t reqlen;
	const void *rep;
	size_t replen;
	unsigned char *buf;		/* either frame fits */
};

int bench_pingpong_start(struct bench_pingpong *pp, const void *req,
			 size_t reqlen, const void *rep, size_t replen,
			 enum bench_pin pin);
int bench_pingpong_run(void *ctx, long n);
int bench_pingpong_stop(struct bench_pingpong *pp);

/* ---- tetherd -------------------------------------------------------- */

/* A private directory under /tmp, in dir; guarded (signals). */
int bench_mkdir(char dir[BENCH_DIR_MAX]);
/* dir/name into buf, or -ENAMETOOLONG. */
int bench_path(char *buf, size_t size, const char *dir, const char *name);
/* Remove it, depth levels of it (retried while tetherd exits); says
 * why on stderr when it cannot. */
int bench_rmdir(const char *dir, int depth);

/* A tetherd of ours, on DIR/NAME.sock, logging to DIR/NAME.log. */
struct bench_tetherd {
	struct tether *t;
	pid_t pid;
	char sock[128];
	char log[128];
	char dir[BENCH_DIR_MAX];	/* its own directory, if it made one */
};

/* tether_start(so) into *t (NULL on failure); in cross mode tetherd
 * lands on the peer CPU. */
int bench_start_pinned(const struct tether_start_opts *so,
		       enum bench_pin pin, struct tether **t);
/* Launch one (with policy, unless NULL) in dir, or in a private
 * directory of its own when dir is NULL; guarded; says why on stderr
 * when it cannot.  bench_tetherd_stop undoes this even after a
 * failure: shutdown, detach, its own directory. */
int bench_tetherd_start(struct bench_tetherd *bd, const char *dir,
			const char *name, const char *tetherd,
			const char *policy, enum bench_pin pin);
int bench_tetherd_stop(struct bench_tetherd *bd);

/* ---- reporting ------------------------------------------------------ */

/* How a series' values are shown: ns / div, or, when per_s > 0, as a
 * rate: per_s over the time in seconds (MiB/s of per_s MiB).  In JSON
 * the members are "median_<key>" and "<runs>_<key>" ("median" and
 * "runs" when key is ""); runs is "runs" unless given. */
struct bench_unit {
	const char *key;
	double div;
	double per_s;
	const char *runs;
};

#define BENCH_NS ((struct bench_unit){ "ns", 1, 0, NULL })
#define BENCH_US ((struct bench_unit){ "us", 1e3, 0, NULL })
#define BENCH_MS ((struct bench_unit){ "ms", 1e6, 0, NULL })
/* MiB/s of a run that moves mib MiB. */
#define BENCH_MIB_S(mib) \
	((struct bench_unit){ "mib_s", 1, (double)(mib), NULL })

/* The table's layout: the name column, a ratio's decimals. */
struct bench_layout {
	int width;
	int ratio_digits;
};

extern struct bench_layout bench_layout;

/* A value as the unit shows it; -1 when it is missing. */
double bench_in(double ns, struct bench_unit u);
/* "pin mode: ..." and the JSON object's first members. */
void bench_print_head(enum bench_pin pin);
void bench_json_head(enum bench_pin pin);
/* Column heads over the rows, label over the names. */
void bench_print_heads(const char *label, const char *a, const char *b,
		       const char *c);
/* A row: the median, the smallest and the largest run ("n/a" when none
 * ran); its cells alone, for a bench to add columns of its own. */
void bench_print_cells(const char *name, const struct bench_series *s,
		       struct bench_unit u);
void bench_print_row(const char *name, const struct bench_series *s,
		     struct bench_unit u);
void bench_print_ratio(const char *name, double r);
/* "met", "NOT met" or "not measured": r against target, which it must
 * not exceed (at_most) or must reach. */
const char *bench_verdict(double r, double target, bool at_most);
void bench_json_series(const char *name, const struct bench_series *s,
		       struct bench_unit u);
/* A ratio as a JSON member: a number or null; the last one of an object
 * takes no comma.  A verdict: true, false or null. */
void bench_json_ratio(const char *name, double r, bool last);
void bench_json_met(const char *name, double r, double target,
		    bool at_most, bool last);

/* A failed step on stderr; returns rc. */
int bench_fail(const char *what, int rc);
/* A tether row failed: say why (with t's last error), stop the row. */
void bench_tether_failed(struct tether *t, const char *what, int rc,
			 bool *ok, int *err);

#endif
