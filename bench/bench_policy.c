/*
 * bench_policy: what a loaded syscall policy costs an allowed call.
 *
 * Three tetherds under one CPU pinning, started by this bench on sockets
 * in one private directory:
 *
 *   none       no --policy
 *   allow-200  --policy with `default deny EPERM` and 200 allow rules:
 *              199 other syscalls (a few with argument conditions) and
 *              the measured getppid, last in the file
 *   deny-200   --policy with `default allow` and 200 `deny NAME EPERM`
 *              rules, none of them for getppid
 *
 * and the round trip of getppid through tether_syscall() (the path
 * tether_getpid() takes) against each, plus the two baselines of
 * bench_roundtrip: a direct getppid syscall and a raw socketpair
 * ping-pong of frames the size of tether's getppid request and reply.
 * Under a policy every call passes tetherd's user-space check (the
 * rules of that syscall) and the kernel's seccomp filter the server
 * loaded on itself (the policy plus what the server needs); that is the
 * cost measured.  Target (issue 7): policy / no policy <= 1.10.
 *
 * The five rows are run --rounds times, interleaved, the three servers
 * in a rotating order, so that drift of the machine hits all alike; the
 * median of the per-round means is reported.  Before timing, each
 * server is checked: its policy must be the one written (tether_policy:
 * active, 200 rules) and a call the policy refuses (getpgrp) must come
 * back EPERM, so a server that silently ignored --policy cannot pass
 * for a fast one.  Timing is only reported, never judged: the exit
 * status says whether something broke, not whether tether was fast.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include "tether.h"
#include "tether_proto.h"
#include "bench_common.h"

#define BENCH_ROUNDS_MAX 1000
#define BENCH_TARGET 1.10		/* policy / no policy */
#define BENCH_RULES 200			/* rules in each policy file */
#define BENCH_FRAME_MAX 64		/* a getppid request or reply */

_Static_assert(BENCH_ROUNDS_MAX <= BENCH_SERIES_MAX,
	       "a series holds every round");

/* The three servers, in the order of the table. */
enum bench_srv { SRV_NONE, SRV_ALLOW, SRV_DENY, SRV_N };

static const char *const bench_srv_names[SRV_N] = {
	"none", "allow-200", "deny-200",
};

static const char *const bench_srv_rows[SRV_N] = {
	"tether getppid, no policy",
	"tether getppid, allow-200",
	"tether getppid, deny-200",
};

static const char *const bench_srv_json[SRV_N] = {
	"tether_no_policy", "tether_allow200", "tether_deny200",
};

struct bench_opts {
	struct bench_args a;
	long iterations;		/* per row and round */
	long warmup;			/* per row and round */
	long rounds;
};

/* The two frames of a tether getppid round trip, as the library and the
 * server build them (a 4-byte length and msgpack [id, op, [nr, []]],
 * [id, 0, [ret, []]]); encoded here, since this bench links only
 * libtether. */
struct bench_frames {
	unsigned char req[BENCH_FRAME_MAX];
	size_t reqlen;
	unsigned char rep[BENCH_FRAME_MAX];
	size_t replen;
};

/* One tetherd of ours. */
struct bench_server {
	struct bench_tetherd d;
	bool ok;			/* started and checked */
	int err;			/* why not, or why its row stopped */
	size_t nrules;			/* what tether_policy() reported */
	long probe_ret;			/* getpgrp through it */
	char cpus[64];
};

struct bench_results {
	struct bench_series direct;
	struct bench_series raw;
	struct bench_series srv[SRV_N];
	/* Per-round ratio policy/no-policy, for rounds where both ran. */
	struct bench_series ratio[SRV_N];
	char cpus_self[64];
	char cpus_raw[64];
};

/* ---- the policies ---------------------------------------------------- */

/*
 * Syscalls for the rules: x86_64 names libseccomp knows (it resolves
 * them in tetherd), none of them getppid, getpgrp (the probe) or one of
 * the syscalls tetherd always keeps for itself (filter.c), so that every
 * rule is a rule of its own in the kernel filter, not merged with the
 * server's needs.  Obsolete and unimplemented entries are left out.
 */
static const char *const bench_pool[] = {
	"stat", "lstat", "poll", "access", "pipe", "select", "msync",
	"mincore", "shmget", "shmat", "shmctl", "dup2", "pause", "getitimer",
	"alarm", "setitimer", "sendfile", "socket", "connect", "accept",
	"bind", "listen", "getpeername", "socketpair", "fork", "vfork",
	"execve", "semget", "semop", "semctl", "shmdt", "msgget", "msgsnd",
	"msgrcv", "msgctl", "truncate", "getdents", "getcwd", "chdir",
	"fchdir", "rename", "mkdir", "rmdir", "creat", "link", "unlink",
	"symlink", "chmod", "fchmod", "chown", "fchown", "lchown", "umask",
	"getrlimit", "times", "syslog", "setuid", "setgid", "setpgid",
	"setreuid", "setregid", "getgroups", "setgroups", "setresuid",
	"getresuid", "setresgid", "getresgid", "getpgid", "setfsuid",
	"setfsgid", "getsid", "capget", "capset", "rt_sigpending",
	"rt_sigtimedwait", "rt_sigqueueinfo", "rt_sigsuspend", "utime",
	"mknod", "personality", "statfs", "fstatfs", "getpriority",
	"setpriority", "sched_setparam", "sched_getparam",
	"sched_setscheduler", "sched_getscheduler", "sched_get_priority_max",
	"sched_get_priority_min", "sched_rr_get_interval", "mlock",
	"munlock", "mlockall", "munlockall", "vhangup", "modify_ldt",
	"pivot_root", "arch_prctl", "adjtimex", "setrlimit", "chroot",
	"sync", "acct", "settimeofday", "mount", "umount2", "swapon",
	"swapoff", "reboot", "sethostname", "setdomainname", "iopl",
	"ioperm", "init_module", "delete_module", "quotactl", "readahead",
	"setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr",
	"fgetxattr", "listxattr", "llistxattr", "flistxattr", "removexattr",
	"lremovexattr", "fremovexattr", "tkill", "time", "sched_setaffinity",
	"io_setup", "io_destroy", "io_getevents", "io_submit", "io_cancel",
	"epoll_create", "remap_file_pages", "set_tid_address", "semtimedop",
	"fadvise64", "timer_create", "timer_settime", "timer_gettime",
	"timer_getoverrun", "timer_delete", "clock_settime", "clock_getres",
	"epoll_wait", "epoll_ctl", "utimes", "mbind", "set_mempolicy",
	"get_mempolicy", "mq_open", "mq_unlink", "mq_timedsend",
	"mq_timedreceive", "mq_notify", "mq_getsetattr", "kexec_load",
	"add_key", "request_key", "keyctl", "ioprio_set", "ioprio_get",
	"inotify_init", "inotify_add_watch", "inotify_rm_watch",
	"migrate_pages", "mknodat", "fchownat", "futimesat", "linkat",
	"symlinkat", "fchmodat", "faccessat", "pselect6", "ppoll", "unshare",
	"get_robust_list", "tee", "sync_file_range", "vmsplice",
	"move_pages", "utimensat", "epoll_pwait", "signalfd",
	"timerfd_create", "eventfd", "fallocate", "timerfd_settime",
	"timerfd_gettime", "signalfd4", "eventfd2", "epoll_create1",
	"inotify_init1", "preadv", "pwritev", "rt_tgsigqueueinfo",
	"perf_event_open", "recvmmsg", "fanotify_init", "fanotify_mark",
	"name_to_handle_at", "open_by_handle_at", "clock_adjtime", "syncfs",
	"sendmmsg", "setns", "getcpu", "process_vm_readv",
	"process_vm_writev", "kcmp", "finit_module", "sched_setattr",
	"sched_getattr", "renameat2", "seccomp", "kexec_file_load", "bpf",
	"execveat", "userfaultfd", "membarrier", "mlock2", "copy_file_range",
	"preadv2", "pwritev2", "pkey_mprotect", "pkey_alloc", "pkey_free",
	"io_pgetevents", "io_uring_setup", "io_uring_register", "open_tree",
	"move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "openat2",
	"pidfd_getfd", "faccessat2", "process_madvise", "epoll_pwait2",
};

#define BENCH_POOL_N (sizeof(bench_pool) / sizeof(bench_pool[0]))

/*
 * Allow rules with argument conditions.  The first seven are syscalls
 * tetherd keeps for itself anyway (the kernel filter allows them
 * whatever the policy says; the user-space check still applies the
 * conditions to the controller's calls); the rest are pool syscalls,
 * whose plain `allow NAME` line they replace.
 */
static const struct {
	const char *name;
	const char *cond;
} bench_allow_conds[] = {
	{ "openat", "arg2 & O_ACCMODE == O_RDONLY" },
	{ "kill", "arg1 == SIGTERM" },
	{ "lseek", "arg2 <= 2" },
	{ "fcntl", "arg1 == F_GETFL" },
	{ "mmap", "arg2 & PROT_EXEC == 0" },
	{ "mprotect", "arg2 & PROT_EXEC == 0" },
	{ "clock_gettime", "arg0 == CLOCK_MONOTONIC" },
	{ "socket", "arg0 == AF_UNIX and arg1 & 15 == SOCK_STREAM" },
	{ "setpriority", "arg0 == 0 and arg2 <= 19" },
	{ "fchmod", "arg1 <= 0777" },
	{ "timerfd_create", "arg0 == CLOCK_MONOTONIC" },
	{ "getpriority", "arg0 <= 2" },
	{ "fchownat", "arg0 == AT_FDCWD and arg4 & AT_EMPTY_PATH == 0" },
	{ "accept", "arg1 == 0 and arg2 == 0" },
};

#define BENCH_ALLOW_CONDS_N \
	(sizeof(bench_allow_conds) / sizeof(bench_allow_conds[0]))
#define BENCH_ALLOW_OWN 7		/* the first seven are not in the pool */

/* The condition of a pool syscall's allow rule, or NULL. */
static const char *bench_allow_cond(const char *name)
{
	for (size_t i = BENCH_ALLOW_OWN; i < BENCH_ALLOW_CONDS_N; i++)
		if (!strcmp(bench_allow_conds[i].name, name))
			return bench_allow_conds[i].cond;
	return NULL;
}

/* The allow-200 file: default deny, 199 other rules, getppid last. */
static int bench_write_allow(FILE *f)
{
	size_t n = 0;

	fprintf(f, "# bench_policy: default deny, %d allow rules; the "
		"measured syscall last\ndefault deny EPERM\n", BENCH_RULES);
	for (size_t i = 0; i < BENCH_ALLOW_OWN; i++, n++)
		fprintf(f, "allow %s %s\n", bench_allow_conds[i].name,
			bench_allow_conds[i].cond);
	for (size_t i = 0; n < BENCH_RULES - 1 && i < BENCH_POOL_N; i++, n++) {
		const char *cond = bench_allow_cond(bench_pool[i]);

		fprintf(f, "allow %s%s%s\n", bench_pool[i], cond ? " " : "",
			cond ? cond : "");
	}
	if (n != BENCH_RULES - 1)
		return -EINVAL;
	fprintf(f, "# the measured call, last: the worst case\n"
		"allow getppid\n");
	return 0;
}

/* The deny-200 file: default allow, 200 denies, getppid not among them.
 * The pool is taken from its end, so the two files share few names. */
static int bench_write_deny(FILE *f)
{
	size_t n = 0;

	fprintf(f, "# bench_policy: default allow, %d deny rules, none for "
		"the measured syscall\ndefault allow\ndeny getpgrp EPERM\n",
		BENCH_RULES);
	n++;
	for (size_t i = BENCH_POOL_N; n < BENCH_RULES && i > 0; i--, n++)
		fprintf(f, "deny %s EPERM\n", bench_pool[i - 1]);
	return n == BENCH_RULES ? 0 : -EINVAL;
}

/* Write one policy file with fn; 0 or -errno. */
static int bench_write_policy(const char *path, int (*fn)(FILE *))
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FILE *f;
	int rc;

	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rc = fn(f);
	if (ferror(f) && rc == 0)
		rc = -EIO;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/* ---- the frames ----------------------------------------------------- */

/* A msgpack non-negative integer, in the smallest form, as msgpack-c
 * packs both its unsigned and its (non-negative) signed values. */
static size_t bench_mp_uint(unsigned char *p, uint64_t v)
{
	size_t n;

	if (v < 0x80) {
		p[0] = (unsigned char)v;
		return 1;
	}
	if (v <= 0xff) {
		p[0] = 0xcc;
		n = 1;
	} else if (v <= 0xffff) {
		p[0] = 0xcd;
		n = 2;
	} else if (v <= 0xffffffffu) {
		p[0] = 0xce;
		n = 4;
	} else {
		p[0] = 0xcf;
		n = 8;
	}
	for (size_t i = 0; i < n; i++)
		p[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	return n + 1;
}

/* Frame header: the payload length, big-endian, in TETHER_FRAME_HDR. */
static void bench_frame_hdr(unsigned char *p, size_t len)
{
	size_t plen = len - TETHER_FRAME_HDR;

	p[0] = (unsigned char)(plen >> 24);
	p[1] = (unsigned char)(plen >> 16);
	p[2] = (unsigned char)(plen >> 8);
	p[3] = (unsigned char)plen;
}

/* [id, SYSCALL, [SYS_getppid, []]] and [id, 0, [ppid, []]].  The id is
 * one the timed loops actually reach, so it has the library's width. */
static void bench_frames_init(struct bench_frames *f,
			      const struct bench_opts *o)
{
	uint64_t id = (uint64_t)o->rounds *
		      (uint64_t)(o->warmup + o->iterations);
	unsigned char *p;

	p = f->req + TETHER_FRAME_HDR;
	*p++ = 0x93;			/* fixarray 3 */
	p += bench_mp_uint(p, id);
	p += bench_mp_uint(p, TETHER_OP_SYSCALL);
	*p++ = 0x92;			/* [nr, args] */
	p += bench_mp_uint(p, SYS_getppid);
	*p++ = 0x90;			/* no arguments */
	f->reqlen = (size_t)(p - f->req);
	bench_frame_hdr(f->req, f->reqlen);

	p = f->rep + TETHER_FRAME_HDR;
	*p++ = 0x93;
	p += bench_mp_uint(p, id);
	*p++ = 0x00;			/* err 0 */
	*p++ = 0x92;			/* [ret, out buffers] */
	p += bench_mp_uint(p, (uint64_t)getpid());	/* tetherd's parent */
	*p++ = 0x90;
	f->replen = (size_t)(p - f->rep);
	bench_frame_hdr(f->rep, f->replen);
}

/* ---- b) the three tetherds ------------------------------------------ */

/* Print the server's log to stderr: its policy errors are there. */
static void bench_dump_log(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "  tetherd: %s", line);
	fclose(f);
}

/* Launch one tetherd on DIR/NAME.sock, its log in DIR/NAME.log, with
 * policy (or none), on the peer CPU in cross mode. */
static int bench_server_start(struct bench_server *s, const char *dir,
			      const char *name, const char *policy,
			      const struct bench_opts *o)
{
	int rc = bench_tetherd_start(&s->d, dir, name, o->a.tetherd, policy,
				     o->a.pin);

	if (rc < 0 && !s->d.t)
		bench_dump_log(s->d.log);
	return rc;
}
/* Before timing: the server enforces the policy it was given.  With a
 * policy, tether_policy must report it active with BENCH_RULES rules
 * and getpgrp (denied by both files) must fail with EPERM; without,
 * getpgrp must succeed.  Then getppid must answer our pid. */
static int bench_server_check(struct bench_server *s, const char *name,
			      bool policy)
{
	struct tether_policy *tp = NULL;
	long r;
	int rc;

	rc = tether_policy(s->d.t, &tp);
	if (rc < 0) {
		fprintf(stderr, "bench: %s: tether_policy: %s (%s)\n", name,
			strerror(-rc), tether_last_error(s->d.t));
		return rc;
	}
	s->nrules = tp->nrules;
	rc = tp->active != policy ||
	     (policy && tp->nrules != BENCH_RULES) ? -EPROTO : 0;
	if (rc < 0)
		fprintf(stderr, "bench: %s: server reports policy %s, %zu "
			"rules; expected %s, %d\n", name,
			tp->active ? "active" : "inactive", tp->nrules,
			policy ? "active" : "inactive",
			policy ? BENCH_RULES : 0);
	tether_free(tp);
	if (rc < 0)
		return rc;
	/* A refused call fails as a request (-EPERM, the policy's cause),
	 * it is not run and has no result of its own. */
	rc = tether_syscall(s->d.t, SYS_getpgrp, 0, NULL, &s->probe_ret);
	if (rc == -EPERM && policy)
		s->probe_ret = -EPERM;
	else if (rc < 0)
		return rc;
	if (policy ? s->probe_ret != -EPERM : s->probe_ret <= 0) {
		fprintf(stderr, "bench: %s: getpgrp gave %ld, expected %s\n",
			name, s->probe_ret, policy ? "-EPERM" : "a pgid");
		return -EPROTO;
	}
	if ((rc = tether_syscall(s->d.t, SYS_getppid, 0, NULL, &r)) < 0)
		return rc;
	if (r != (long)getpid()) {
		fprintf(stderr, "bench: %s: getppid gave %ld (%s), expected "
			"%ld\n", name, r, r < 0 ? strerror((int)-r) : "ok",
			(long)getpid());
		return r < 0 ? (int)r : -EPROTO;
	}
	return 0;
}


/* ---- measuring ------------------------------------------------------- */

/* --rounds rounds of the five rows.  The three servers go in a rotating
 * order (none first, then allow first, then deny first, ...), so that
 * neither position in a round favours one of them.  A server's failure
 * stops only its row. */
static int bench_run_all(const struct bench_opts *o,
			 struct bench_pingpong *raw, struct bench_server *srv,
			 struct bench_results *res)
{
	struct bench_nullcall direct = { SYS_getppid, NULL };
	int rc;

	for (long round = 0; round < o->rounds; round++) {
		double this[SRV_N] = { 0 };

		rc = bench_measure(bench_direct, &direct, o->warmup,
				   o->iterations, &res->direct);
		if (rc < 0)
			return bench_fail("direct getppid", rc);
		rc = bench_measure(bench_pingpong_run, raw, o->warmup,
				   o->iterations, &res->raw);
		if (rc < 0)
			return bench_fail("raw ping-pong", rc);
		for (int k = 0; k < SRV_N; k++) {
			int i = (int)((round + k) % SRV_N);
			struct bench_server *s = &srv[i];
			struct bench_nullcall call = { SYS_getppid, s->d.t };

			if (!s->ok)
				continue;
			rc = bench_measure(bench_tether, &call, o->warmup,
					   o->iterations, &res->srv[i]);
			if (rc < 0) {
				fprintf(stderr, "bench: %s: getppid: %s (%s)\n",
					bench_srv_names[i], strerror(-rc),
					tether_last_error(s->d.t));
				s->ok = false;
				s->err = rc;
				continue;
			}
			this[i] = res->srv[i].ns[res->srv[i].n - 1];
		}
		for (int i = SRV_NONE + 1; i < SRV_N; i++)
			if (this[i] > 0 && this[SRV_NONE] > 0)
				res->ratio[i].ns[res->ratio[i].n++] =
					this[i] / this[SRV_NONE];
	}
	return 0;
}

/* ---- reporting ------------------------------------------------------- */

/* A ratio line with its per-round spread, "n/a" when a side is missing. */
static void bench_print_spread(const char *name, double r,
			       const struct bench_series *rounds)
{
	if (r < 0 || !rounds->n) {
		bench_print_ratio(name, r);
		return;
	}
	printf("%-*s %12.3f   per round: median %.3f, %.3f-%.3f\n",
	       bench_layout.width, name, r, bench_median(rounds),
	       bench_extreme(rounds, false), bench_extreme(rounds, true));
}
/* The human-readable report. */
static void bench_print_table(const struct bench_opts *o,
			      const struct bench_frames *f,
			      const struct bench_server *srv,
			      const struct bench_results *res)
{
	double none = bench_median(&res->srv[SRV_NONE]);
	double ra = bench_ratio(bench_median(&res->srv[SRV_ALLOW]), none);
	double rd = bench_ratio(bench_median(&res->srv[SRV_DENY]), none);

	bench_layout.width = 30;
	bench_layout.ratio_digits = 3;
	bench_print_head(o->a.pin);
	printf("affinity: bench %s, ping-pong child %s, tetherd", res->cpus_self,
	       res->cpus_raw);
	for (int i = 0; i < SRV_N; i++)
		printf(" %s %s%s", bench_srv_names[i],
		       srv[i].d.pid > 0 ? srv[i].cpus : "n/a",
		       i < SRV_N - 1 ? "," : "\n");
	printf("policies: allow-200 = default deny + %d allow rules "
	       "(getppid last), deny-200 = default allow + %d denies\n",
	       BENCH_RULES, BENCH_RULES);
	printf("iterations: %ld x %ld rounds (warmup %ld)    "
	       "frames: request %zu B, reply %zu B\n\n",
	       o->iterations, o->rounds, o->warmup, f->reqlen, f->replen);
	bench_print_heads("", "ns/op median", "min round", "max round");
	bench_print_row("direct getppid", &res->direct, BENCH_NS);
	bench_print_row("raw socketpair ping-pong", &res->raw, BENCH_NS);
	for (int i = 0; i < SRV_N; i++)
		bench_print_row(bench_srv_rows[i], &res->srv[i], BENCH_NS);
	printf("\n");
	bench_print_spread("allow-200 / no policy", ra, &res->ratio[SRV_ALLOW]);
	bench_print_spread("deny-200 / no policy", rd, &res->ratio[SRV_DENY]);
	bench_print_ratio("no policy / raw ping-pong",
			  bench_ratio(none, bench_median(&res->raw)));
	printf("target: policy/no-policy <= %.2f: allow-200 %s, deny-200 %s\n",
	       BENCH_TARGET, bench_verdict(ra, BENCH_TARGET, true),
	       bench_verdict(rd, BENCH_TARGET, true));
	for (int i = 0; i < SRV_N; i++)
		if (!srv[i].ok)
			printf("%s row missing or cut short: %s\n",
			       bench_srv_names[i],
			       strerror(srv[i].err ? -srv[i].err : EIO));
}

/* The machine-readable report. */
static void bench_print_json(const struct bench_opts *o,
			     const struct bench_frames *f,
			     const struct bench_server *srv,
			     const struct bench_results *res)
{
	struct bench_unit rounds = { "ns", 1, 0, "rounds" };
	double none = bench_median(&res->srv[SRV_NONE]);
	double ra = bench_ratio(bench_median(&res->srv[SRV_ALLOW]), none);
	double rd = bench_ratio(bench_median(&res->srv[SRV_DENY]), none);

	bench_json_head(o->a.pin);
	printf("  \"affinity\": {\"bench\": \"%s\", \"raw_child\": \"%s\"",
	       res->cpus_self, res->cpus_raw);
	for (int i = 0; i < SRV_N; i++)
		printf(", \"tetherd_%s\": \"%s\"", bench_srv_names[i],
		       srv[i].d.pid > 0 ? srv[i].cpus : "");
	printf("},\n  \"rules\": %d,\n", BENCH_RULES);
	printf("  \"iterations\": %ld,\n  \"warmup\": %ld,\n  \"rounds\": %ld,\n",
	       o->iterations, o->warmup, o->rounds);
	printf("  \"request_bytes\": %zu,\n  \"reply_bytes\": %zu,\n",
	       f->reqlen, f->replen);
	bench_json_series("direct_getppid", &res->direct, rounds);
	bench_json_series("raw_pingpong", &res->raw, rounds);
	for (int i = 0; i < SRV_N; i++)
		bench_json_series(bench_srv_json[i], &res->srv[i], rounds);
	bench_json_series("round_ratio_allow200", &res->ratio[SRV_ALLOW],
			  rounds);
	bench_json_series("round_ratio_deny200", &res->ratio[SRV_DENY], rounds);
	bench_json_ratio("ratio_allow200_none", ra, false);
	bench_json_ratio("ratio_deny200_none", rd, false);
	bench_json_ratio("ratio_none_raw",
			 bench_ratio(none, bench_median(&res->raw)),
			 false);
	printf("  \"target_ratio\": %.2f,\n", BENCH_TARGET);
	bench_json_met("target_met_allow200", ra, BENCH_TARGET, true, false);
	bench_json_met("target_met_deny200", rd, BENCH_TARGET, true, true);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------ */

int main(int argc, char **argv)
{
	struct bench_opts o = { .iterations = 5000, .warmup = 500,
				.rounds = 10 };
	const struct bench_opt opts[] = {
		BENCH_OPT_COUNTS(&o.iterations, &o.warmup, LONG_MAX / 4),
		{ .name = "rounds", .help = "interleaved rounds (at most 1000)",
		  .num = &o.rounds, .min = 1, .max = BENCH_ROUNDS_MAX },
		{ .name = NULL },
	};
	struct bench_frames f;
	struct bench_pingpong raw = { .fd = -1, .pid = -1 };
	struct bench_server srv[SRV_N];
	static struct bench_results res;
	char dir[BENCH_DIR_MAX] = "";
	char pol_allow[128], pol_deny[128];
	const char *policies[SRV_N] = { NULL, pol_allow, pol_deny };
	int rc, status = 0;

	memset(srv, 0, sizeof(srv));
	if (bench_args_parse(argc, argv, "the ping-pong child and tetherds",
			     opts, &o.a) < 0)
		return 2;
	if (bench_setup(o.a.pin) < 0)
		return 1;
	/* --rounds picks the counts: an even one is ordinary. */
	res.direct.mean_even = res.raw.mean_even = true;
	for (int i = 0; i < SRV_N; i++)
		res.srv[i].mean_even = res.ratio[i].mean_even = true;
	bench_frames_init(&f, &o);
	if ((rc = bench_mkdir(dir)) < 0) {
		bench_fail("mkdtemp", rc);
		return 1;
	}
	if ((rc = bench_path(pol_allow, sizeof(pol_allow), dir,
			     "allow-200.policy")) < 0 ||
	    (rc = bench_path(pol_deny, sizeof(pol_deny), dir,
			     "deny-200.policy")) < 0 ||
	    (rc = bench_write_policy(pol_allow, bench_write_allow)) < 0 ||
	    (rc = bench_write_policy(pol_deny, bench_write_deny)) < 0) {
		bench_fail("writing the policy files", rc);
		status = 1;
		goto out;
	}
	rc = bench_pingpong_start(&raw, f.req, f.reqlen, f.rep, f.replen,
				  o.a.pin);
	if (rc < 0) {
		bench_fail("starting the ping-pong child", rc);
		status = 1;
		goto out;
	}
	for (int i = 0; i < SRV_N; i++) {
		srv[i].err = bench_server_start(&srv[i], dir,
						bench_srv_names[i],
						policies[i], &o);
		if (srv[i].err == 0 && srv[i].d.t)
			srv[i].err = bench_server_check(&srv[i],
							bench_srv_names[i],
							policies[i] != NULL);
		srv[i].ok = srv[i].err == 0 && srv[i].d.t;
		if (!srv[i].ok)
			status = 1;
	}
	bench_cpus(getpid(), res.cpus_self, sizeof(res.cpus_self));
	bench_cpus(raw.pid, res.cpus_raw, sizeof(res.cpus_raw));
	for (int i = 0; i < SRV_N; i++)
		bench_cpus(srv[i].d.pid, srv[i].cpus, sizeof(srv[i].cpus));
	if (bench_run_all(&o, &raw, srv, &res) < 0)
		status = 1;
	for (int i = 0; i < SRV_N; i++)
		if (!srv[i].ok)
			status = 1;
	if (o.a.json)
		bench_print_json(&o, &f, srv, &res);
	else
		bench_print_table(&o, &f, srv, &res);
out:
	for (int i = 0; i < SRV_N; i++)
		if (bench_tetherd_stop(&srv[i].d) < 0)
			status = 1;
	rc = bench_pingpong_stop(&raw);
	if (rc < 0) {
		bench_fail("ping-pong child", rc);
		status = 1;
	}
	if (bench_rmdir(dir, 1) < 0)
		status = 1;
	return status;
}
