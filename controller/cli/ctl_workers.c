/* tetherctl spawn, ps, wait, kill, stop, logs, ack: the workers. */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "hash.h"
#include "proto.h"

#define CTL_ENV_MAX 256
#define CTL_FDS_MAX 64

/* "SIGTERM" for 15; "SIG15" for what has no name. */
const char *ctl_signal_name(int sig, char *buf, size_t size)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, size, "SIG%s", abbrev);
	else if (sig >= SIGRTMIN && sig <= SIGRTMAX)
		snprintf(buf, size, "SIGRTMIN+%d", sig - SIGRTMIN);
	else
		snprintf(buf, size, "signal %d", sig);	/* 0: none sent */
	return buf;
}

/* -9, -KILL, -SIGKILL, KILL, 9. */
int ctl_signal_parse(const char *s, int *sig)
{
	char *end;
	long v;

	if (*s == '-')
		s++;
	v = strtol(s, &end, 10);
	if (*s && !*end) {
		if (v < 0 || v >= NSIG)
			return -EINVAL;
		*sig = (int)v;
		return 0;
	}
	if (!strncmp(s, "SIG", 3))
		s += 3;
	for (int i = 1; i < NSIG; i++) {
		const char *a = sigabbrev_np(i);

		if (a && !strcmp(a, s)) {
			*sig = i;
			return 0;
		}
	}
	/* RTMIN, RTMIN+N, RTMAX, RTMAX-N, as kill(1) and call take them */
	if (!strncmp(s, "RTMIN", 5) || !strncmp(s, "RTMAX", 5)) {
		bool min = s[4] == 'N';

		v = 0;
		if (s[5] && (s[5] != (min ? '+' : '-') || s[6] < '0' ||
			     s[6] > '9' || (v = strtol(s + 6, &end, 10), *end)))
			return -EINVAL;
		v = min ? SIGRTMIN + v : SIGRTMAX - v;
		if (v < SIGRTMIN || v > SIGRTMAX)
			return -EINVAL;
		*sig = (int)v;
		return 0;
	}
	return -EINVAL;
}

/* The label, escaped as ps shows it (a newline in it would start a line
 * of its own), or "pid N". */
static const char *ctl_wname(const struct tether_worker *w, char *buf,
			     size_t size)
{
	if (w->label[0])
		ctl_escape_cell(w->label, buf, size);
	else
		snprintf(buf, size, "pid %d", (int)w->pid);
	return buf;
}

/* "exited 0", "killed by SIGTERM (core dumped)", "running". */
static void ctl_wstate(const struct tether_worker *w, char *buf, size_t size)
{
	char sig[32];

	switch (w->state) {
	case TETHER_W_RUNNING:
		snprintf(buf, size, "running");
		break;
	case TETHER_W_STOPPED:
		snprintf(buf, size, "stopped (%s)",
			 ctl_signal_name(w->signal, sig, sizeof(sig)));
		break;
	case TETHER_W_EXITED:
		snprintf(buf, size, "exited %d", w->exit_code);
		break;
	case TETHER_W_KILLED:
		snprintf(buf, size, "killed by %s%s",
			 ctl_signal_name(w->signal, sig, sizeof(sig)),
			 w->core ? " (core dumped)" : "");
		break;
	}
}

static void ctl_iso_time(int64_t ms, char *buf, size_t size)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	if (!ms || !gmtime_r(&s, &tm)) {
		snprintf(buf, size, "-");
		return;
	}
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- spawn ---------------------------------------------------------------- */

struct ctl_spawn_opts {
	struct tether_spawn sp;
	const char *env[CTL_ENV_MAX + 1];
	size_t nenv;
	int fds[CTL_FDS_MAX][2];
};

static int ctl_spawn_opt(struct ctl_spawn_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'l':
		o->sp.label = arg;
		return 0;
	case 'c':
		o->sp.capture = true;
		return 0;
	case 'e':
		if (o->nenv >= CTL_ENV_MAX || !strchr(arg, '='))
			return -EINVAL;
		o->env[o->nenv++] = arg;
		o->sp.env = o->env;
		return 0;
	case 'E':
		o->sp.clear_env = true;
		return 0;
	case 'd':
		o->sp.cwd = arg;
		return 0;
	case 'u':
		o->sp.user = arg;
		return 0;
	case 'S':
		o->sp.setsid = true;
		return 0;
	case 'g':
		o->sp.cgroup = arg;
		return 0;
	case 'P':
		o->sp.policy = arg;
		return 0;
	case 'm':
		return ctl_parse_u64(arg, &o->sp.log_max) < 0 ||
			       !o->sp.log_max ? -EINVAL : 0;
	case 'f': {
		int end = 0;

		/* CHILD=SERVER and nothing after; one map per child fd */
		if (o->sp.nfds >= CTL_FDS_MAX ||
		    sscanf(arg, "%d=%d%n", &o->fds[o->sp.nfds][0],
			   &o->fds[o->sp.nfds][1], &end) != 2 || arg[end])
			return -EINVAL;
		for (size_t i = 0; i < o->sp.nfds; i++)
			if (o->fds[i][0] == o->fds[o->sp.nfds][0])
				return -EINVAL;
		o->sp.nfds++;
		o->sp.fds = (const int (*)[2])o->fds;
		return 0;
	}
	default:
		return -EINVAL;
	}
}

int ctl_spawn(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "label", required_argument, NULL, 'l' },
		{ "capture", no_argument, NULL, 'c' },
		{ "env", required_argument, NULL, 'e' },
		{ "clear-env", no_argument, NULL, 'E' },
		{ "cwd", required_argument, NULL, 'd' },
		{ "user", required_argument, NULL, 'u' },
		{ "setsid", no_argument, NULL, 'S' },
		{ "cgroup", required_argument, NULL, 'g' },
		{ "log-max", required_argument, NULL, 'm' },
		{ "fd", required_argument, NULL, 'f' },
		{ "policy", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_spawn_opts o;
	pid_t pid;
	int c, rc;

	memset(&o, 0, sizeof(o));
	o.sp.struct_size = sizeof(o.sp);
	optind = 0;
	while ((c = getopt_long(argc, argv, "+l:ce:d:u:", opts, NULL)) != -1)
		if (ctl_spawn_opt(&o, c, optarg) < 0)
			return CTL_EX_USAGE;
	if (optind >= argc)
		return CTL_EX_USAGE;
	o.sp.argv = (const char *const *)argv + optind;
	if ((rc = tether_spawn(t, &o.sp, &pid)) < 0) {
		ctl_err("spawn: %s (%s)", ctl_why(t, rc),
			tp_errno_name(-rc) ? tp_errno_name(-rc) : "?");
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"pid\":%d,\"label\":", (int)pid);
		if (o.sp.label)
			ctl_json_string(stdout, o.sp.label, strlen(o.sp.label));
		else
			printf("null");
		printf("}\n");
	} else {
		printf("%d\n", (int)pid);
	}
	return CTL_EX_OK;
}

/* ---- ps ------------------------------------------------------------------ */

/* A JSON array of v's strings, and, when any is not UTF-8, the same
 * array in hex under key_hex: the exact bytes. */
static void ctl_json_strv(const char *key, const char *const *v)
{
	bool utf8 = true;

	printf("\"%s\":[", key);
	for (size_t i = 0; v && v[i]; i++) {
		printf(i ? "," : "");
		ctl_json_string(stdout, v[i], strlen(v[i]));
		utf8 &= tp_utf8_valid(v[i], strlen(v[i]));
	}
	printf("]");
	if (utf8)
		return;
	printf(",\"%s_hex\":[", key);
	for (size_t i = 0; v[i]; i++) {
		printf(i ? "," : "");
		ctl_json_hex(stdout, v[i], strlen(v[i]));
	}
	printf("]");
}

static void ctl_json_key_str(const char *key, const char *s)
{
	printf(",\"%s\":", key);
	ctl_json_string(stdout, s, s ? strlen(s) : 0);
}

/* XXH3-64 of the environment, each "K=V" with its NUL, in order. */
static void ctl_env_digest(const char *const *env, char *hex, size_t size)
{
	struct tp_hash *st = tp_hash_new();

	if (!st) {
		snprintf(hex, size, "?");
		return;
	}
	tp_hash_reset(st);
	for (size_t i = 0; env && env[i]; i++)
		tp_hash_update(st, env[i], strlen(env[i]) + 1);
	snprintf(hex, size, "%016llx",
		 (unsigned long long)tp_hash_digest(st));
	tp_hash_free(st);
}

/* User and group names, looked up here: never in the server, whose loop
 * must not wait on NSS. */
static void ctl_json_ids(const struct tether_worker_ex *x)
{
	struct passwd pw, *pwr = NULL;
	struct group gr, *grr = NULL;
	char buf[16384];

	printf(",\"uid\":%u,\"gid\":%u", (unsigned)x->uid, (unsigned)x->gid);
	getpwuid_r(x->uid, &pw, buf, sizeof(buf), &pwr);
	ctl_json_key_str("user_name", pwr ? pwr->pw_name : NULL);
	getgrgid_r(x->gid, &gr, buf, sizeof(buf), &grr);
	ctl_json_key_str("group_name", grr ? grr->gr_name : NULL);
	printf(",\"groups\":[");
	for (size_t i = 0; i < x->ngroups; i++)
		printf("%s%u", i ? "," : "", (unsigned)x->groups[i]);
	printf("]");
}

static void ctl_json_fds(const struct tether_worker_ex *x)
{
	printf(",\"fds\":[");
	for (size_t i = 0; i < x->nfds; i++) {
		printf("%s{\"child_fd\":%d,\"server_fd\":%d,\"label\":",
		       i ? "," : "", x->fds[i].child_fd, x->fds[i].server_fd);
		ctl_json_string(stdout, x->fds[i].label,
				x->fds[i].label ? strlen(x->fds[i].label) : 0);
		printf("}");
	}
	printf("],\"rlimits\":[");
	for (size_t i = 0; i < x->nrlimits; i++)
		printf("%s{\"resource\":%d,\"soft\":%llu,\"hard\":%llu}",
		       i ? "," : "", x->rlimits[i].resource,
		       (unsigned long long)x->rlimits[i].soft,
		       (unsigned long long)x->rlimits[i].hard);
	printf("]");
}

/* The spawn spec's keys of a ps --json record (tetherctl(1)). */
static void ctl_json_spec(const struct tether_worker_ex *x, bool env_digest)
{
	char hex[20];

	printf(",\"argv_truncated\":%s,", x->argv_truncated ? "true" : "false");
	if (env_digest) {
		ctl_env_digest(x->env, hex, sizeof(hex));
		printf("\"env_digest\":\"xxh3:%s\"", hex);
	} else {
		ctl_json_strv("env", x->env);
	}
	printf(",\"env_truncated\":%s", x->env_truncated ? "true" : "false");
	ctl_json_key_str("path", x->path);
	ctl_json_key_str("cwd", x->cwd);
	ctl_json_key_str("user", x->user);
	ctl_json_ids(x);
	printf(",\"setsid\":%s,\"pgroup\":%s", x->setsid ? "true" : "false",
	       x->pgroup ? "true" : "false");
	ctl_json_key_str("cgroup", x->cgroup);
	ctl_json_fds(x);
	printf(",\"policy\":");
	if (x->policy_name) {
		printf("{\"name\":");
		ctl_json_string(stdout, x->policy_name, strlen(x->policy_name));
		ctl_json_key_str("xxh3", x->policy_xxh3);
		printf("}");
	} else {
		printf("null");
	}
	printf(",\"capture\":%s,\"log_max\":%llu", x->capture ? "true" : "false",
	       (unsigned long long)x->log_max);
	ctl_json_key_str("log", x->log);
}

/* A worker record's keys, without the braces; state overrides the
 * record's own ("stopping"). */
static void ctl_worker_json_keys(const struct tether_worker *w,
				 const char *state)
{
	static const char *const states[] = { "running", "stopped", "exited",
					      "killed" };
	char sig[32], started[32], ended[32];

	ctl_iso_time(w->started_ms, started, sizeof(started));
	ctl_iso_time(w->ended_ms, ended, sizeof(ended));
	printf("\"pid\":%d,\"label\":", (int)w->pid);
	if (w->label[0])
		ctl_json_string(stdout, w->label, strlen(w->label));
	else
		printf("null");
	printf(",");
	/* WAIT's and STOP's records come without it: null, not [] */
	if (w->argv)
		ctl_json_strv("argv", w->argv);
	else
		printf("\"argv\":null");
	printf(",\"state\":\"%s\",\"exit_code\":",
	       state ? state : states[w->state]);
	if (w->state == TETHER_W_EXITED)
		printf("%d", w->exit_code);
	else
		printf("null");
	printf(",\"signal\":");
	if (w->state == TETHER_W_KILLED || w->state == TETHER_W_STOPPED)
		printf("\"%s\"", ctl_signal_name(w->signal, sig, sizeof(sig)));
	else
		printf("null");
	printf(",\"core\":%s,\"started\":\"%s\",\"started_ms\":%lld,"
	       "\"ended\":%s%s%s,\"ended_ms\":%lld,\"rusage\":{\"utime_ms\":"
	       "%.3f,\"stime_ms\":%.3f,\"maxrss_kb\":%ld},\"captured\":%s,"
	       "\"log_size\":%llu",
	       w->core ? "true" : "false", started, (long long)w->started_ms,
	       w->ended_ms ? "\"" : "", w->ended_ms ? ended : "null",
	       w->ended_ms ? "\"" : "", (long long)w->ended_ms,
	       (double)w->utime_us / 1000.0, (double)w->stime_us / 1000.0,
	       w->maxrss_kb, w->captured ? "true" : "false",
	       (unsigned long long)w->log_size);
}

/* A ps --json record: tether_worker's keys (state "stopping" while a
 * STOP's grace runs), then the STOP's and the spec's. */
static void ctl_worker_ex_json(const struct tether_worker_ex *x,
			       bool env_digest)
{
	char sig[32];

	printf("{");
	ctl_worker_json_keys(&x->w, x->stopping ? "stopping" : NULL);
	if (x->stop_signal)
		printf(",\"stop_deadline_ms\":%lld,\"stop_signal\":\"%s\"",
		       (long long)x->stop_deadline_ms,
		       ctl_signal_name(x->stop_signal, sig, sizeof(sig)));
	if (x->has_spec)
		ctl_json_spec(x, env_digest);
	printf("}");
}

/* "stopping (SIGKILL in 3.2s)", "stopping (SIGKILL sent)", or the
 * plain state. */
static void ctl_wstate_ex(const struct tether_worker_ex *x, char *buf,
			  size_t size)
{
	if (!x->stopping) {
		ctl_wstate(&x->w, buf, size);
	} else if (x->stop_signal == SIGKILL) {
		snprintf(buf, size, "stopping (SIGKILL sent)");
	} else {
		snprintf(buf, size, "stopping (SIGKILL in %.1fs)",
			 (double)x->stop_deadline_ms / 1000.0);
	}
}

/* s escaped into buf (cut to fit). */
static void ctl_ps_table(const struct tether_worker_ex *v, size_t n)
{
	char state[64], started[32], label[4 * 256 + 1];

	printf("%-8s %-14s %-26s %-20s %8s %8s  %s\n", "PID", "LABEL",
	       "STATE", "STARTED", "CPU(s)", "RSS(kB)", "COMMAND");
	for (size_t i = 0; i < n; i++) {
		const struct tether_worker *w = &v[i].w;

		ctl_wstate_ex(&v[i], state, sizeof(state));
		ctl_iso_time(w->started_ms, started, sizeof(started));
		ctl_escape_cell(w->label[0] ? w->label : "-", label,
				sizeof(label));
		printf("%-8d %-14s %-26s %-20s %8.2f %8ld ", (int)w->pid, label,
		       state, started,
		       (double)(w->utime_us + w->stime_us) / 1e6,
		       w->maxrss_kb);
		for (size_t k = 0; w->argv && w->argv[k]; k++) {
			printf(" ");
			ctl_print_escaped(stdout, w->argv[k]);
		}
		printf("%s\n", v[i].argv_truncated ? " ..." : "");
	}
}

int ctl_ps(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "env-digest", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_worker_ex *v;
	bool env_digest = false;
	size_t n;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (c == 'D')
			env_digest = true;
		else
			return CTL_EX_USAGE;
	if (optind != argc)
		return CTL_EX_USAGE;
	if ((rc = tether_ps_ex(t, &v, &n)) < 0) {
		ctl_err("ps: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf(i ? "," : "");
			ctl_worker_ex_json(&v[i], env_digest);
		}
		printf("]\n");
	} else {
		ctl_ps_table(v, n);
	}
	tether_free(v);
	return CTL_EX_OK;
}

/* ---- respawn ----------------------------------------------------------------- */

int ctl_respawn(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_respawned r = TETHER_RESPAWNED_INIT;
	int rc;

	if (argc != 2 || argv[1][0] == '-')
		return CTL_EX_USAGE;
	if ((rc = tether_respawn(t, argv[1], &r)) < 0) {
		ctl_err("respawn %s: %s (%s)", argv[1], ctl_why(t, rc),
			tp_errno_name(-rc) ? tp_errno_name(-rc) : "?");
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"pid\":%d,\"label\":", (int)r.pid);
		if (r.label[0])
			ctl_json_string(stdout, r.label, strlen(r.label));
		else
			printf("null");
		printf(",\"respawned_from\":%d}\n", (int)r.respawned_from);
	} else {
		printf("%d\n", (int)r.pid);
	}
	return CTL_EX_OK;
}

/* ---- wait, kill, stop, ack ----------------------------------------------- */

static int ctl_seconds(const char *s, int64_t *ms)
{
	char *end;
	double v = strtod(s, &end);

	/* NaN fails both comparisons: it must fail this one */
	if (*end || end == s || !(v >= 0 && v <= 1e9))
		return -EINVAL;
	*ms = (int64_t)(v * 1000.0);
	return 0;
}

int ctl_wait(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_worker w;
	int64_t timeout = -1;
	char state[64], name[4 * 256 + 1];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1)
		if (c != 't' || ctl_seconds(optarg, &timeout) < 0)
			return CTL_EX_USAGE;
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = tether_wait(t, argv[optind], timeout, &w)) < 0) {
		ctl_err("wait %s: %s", argv[optind], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	ctl_wstate(&w, state, sizeof(state));
	if (g->json) {
		/* A script tells a timeout from an ended worker without
		 * reading the state: timed_out, and exit 4. */
		printf("{");
		ctl_worker_json_keys(&w, NULL);
		printf(",\"timed_out\":%s}\n", w.timeout ? "true" : "false");
		/* That record is the failure's one object; its words go
		 * to stderr as every failure's do. */
		if (w.timeout) {
			ctl_err_cause(TETHER_CAUSE_TIMEOUT);
			ctl_err("wait %s: timed out, the worker still runs",
				argv[optind]);
			ctl_err_printed();
		}
	} else {
		printf("%s: %s%s\n", ctl_wname(&w, name, sizeof(name)), state,
		       w.timeout ? " (timed out waiting)" : "");
	}
	return w.timeout ? CTL_EX_TIMEOUT : CTL_EX_OK;
}

int ctl_kill(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int sig = SIGTERM, rc, i = 1;
	char name[32], target[4 * 256 + 1];

	if (argc == 3 && ctl_signal_parse(argv[1], &sig) == 0)
		i = 2;
	if (i != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = tether_kill(t, argv[i], sig)) < 0) {
		ctl_err("kill %s: %s", argv[i], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"target\":");
		ctl_json_string(stdout, argv[i], strlen(argv[i]));
		printf(",\"signal\":\"%s\"}\n",
		       ctl_signal_name(sig, name, sizeof(name)));
	} else {
		ctl_escape_cell(argv[i], target, sizeof(target));
		printf("%s sent to %s\n", ctl_signal_name(sig, name, sizeof(name)),
		       target);
	}
	return CTL_EX_OK;
}

int ctl_stop(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "grace", required_argument, NULL, 'g' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_worker w;
	int64_t grace = 10000;
	char state[64], name[4 * 256 + 1];
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "g:", opts, NULL)) != -1)
		if (c != 'g' || ctl_seconds(optarg, &grace) < 0)
			return CTL_EX_USAGE;
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = tether_stop(t, argv[optind], grace, &w)) < 0) {
		ctl_err("stop %s: %s", argv[optind], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	ctl_wstate(&w, state, sizeof(state));
	if (g->json) {
		printf("{");
		ctl_worker_json_keys(&w, NULL);
		printf(",\"sigkill\":%s,\"after_ms\":%llu}\n",
		       w.sigkill ? "true" : "false",
		       (unsigned long long)w.after_ms);
	} else {
		/* The time the stop took, not the grace asked for: a worker
		 * that had ended took none. */
		printf("%s: %s after %.1f s%s\n",
		       ctl_wname(&w, name, sizeof(name)), state,
		       (double)w.after_ms / 1000.0, w.sigkill ? " grace" : "");
	}
	return CTL_EX_OK;
}

int ctl_ack(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int rc;

	if (argc != 2)
		return CTL_EX_USAGE;
	if ((rc = tether_ack(t, argv[1])) < 0) {
		ctl_err("ack %s: %s", argv[1], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json)
		printf("{\"acknowledged\":true}\n");
	else
		printf("%s: record and logs removed\n", argv[1]);
	return CTL_EX_OK;
}

/* ---- logs ------------------------------------------------------------------ */

static int ctl_logs_out(const void *data, size_t len, uint64_t offset,
			void *arg)
{
	(void)offset;
	(void)arg;
	if (fwrite(data, 1, len, stdout) != len)
		return -1;
	return fflush(stdout) == 0 ? 0 : -1;
}

int ctl_logs(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "from", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t from = 0;
	bool follow = false;
	int c, rc;

	(void)g;
	optind = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c == 'f') {
			follow = true;
		} else if (c == 'F') {
			if (ctl_parse_u64(optarg, &from) < 0)
				return CTL_EX_USAGE;
		} else {
			return CTL_EX_USAGE;
		}
	}
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	rc = tether_logs(t, argv[optind], from, follow, ctl_logs_out, NULL);
	if (rc < 0) {
		ctl_err("logs %s: %s", argv[optind], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	return CTL_EX_OK;
}
