/* tetherctl spawn, ps, wait, kill, stop, logs, ack: the workers. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

#define CTL_ENV_MAX 256
#define CTL_FDS_MAX 64

/* "SIGTERM" for 15; "SIG15" for what has no name. */
const char *ctl_signal_name(int sig, char *buf, size_t size)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (abbrev)
		snprintf(buf, size, "SIG%s", abbrev);
	else
		snprintf(buf, size, "SIG%d", sig);
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
	return -EINVAL;
}

static const char *ctl_wname(const struct tether_worker *w, char *buf,
			     size_t size)
{
	if (w->label[0])
		return w->label;
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

static void ctl_worker_json(const struct tether_worker *w)
{
	static const char *const states[] = { "running", "stopped", "exited",
					      "killed" };
	char sig[32], started[32], ended[32];

	ctl_iso_time(w->started_ms, started, sizeof(started));
	ctl_iso_time(w->ended_ms, ended, sizeof(ended));
	printf("{\"pid\":%d,\"label\":", (int)w->pid);
	if (w->label[0])
		ctl_json_string(stdout, w->label, strlen(w->label));
	else
		printf("null");
	printf(",\"argv\":[");
	for (size_t i = 0; w->argv && w->argv[i]; i++) {
		printf(i ? "," : "");
		ctl_json_string(stdout, w->argv[i], strlen(w->argv[i]));
	}
	printf("],\"state\":\"%s\",\"exit_code\":", states[w->state]);
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
	       "\"log_size\":%llu}",
	       w->core ? "true" : "false", started, (long long)w->started_ms,
	       w->ended_ms ? "\"" : "", w->ended_ms ? ended : "null",
	       w->ended_ms ? "\"" : "", (long long)w->ended_ms,
	       (double)w->utime_us / 1000.0, (double)w->stime_us / 1000.0,
	       w->maxrss_kb, w->captured ? "true" : "false",
	       (unsigned long long)w->log_size);
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
	char *end;

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
		o->sp.log_max = strtoull(arg, &end, 10);
		return *end || !o->sp.log_max ? -EINVAL : 0;
	case 'f':
		if (o->sp.nfds >= CTL_FDS_MAX ||
		    sscanf(arg, "%d=%d", &o->fds[o->sp.nfds][0],
			   &o->fds[o->sp.nfds][1]) != 2)
			return -EINVAL;
		o->sp.nfds++;
		o->sp.fds = (const int (*)[2])o->fds;
		return 0;
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

int ctl_ps(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_worker *v;
	char state[64], started[32];
	size_t n;
	int rc;

	(void)argv;
	if (argc != 1)
		return CTL_EX_USAGE;
	if ((rc = tether_ps(t, &v, &n)) < 0) {
		ctl_err("ps: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json) {
		printf("[");
		for (size_t i = 0; i < n; i++) {
			printf(i ? "," : "");
			ctl_worker_json(&v[i]);
		}
		printf("]\n");
	} else {
		printf("%-8s %-14s %-24s %-20s %8s %8s  %s\n", "PID", "LABEL",
		       "STATE", "STARTED", "CPU(s)", "RSS(kB)", "COMMAND");
		for (size_t i = 0; i < n; i++) {
			ctl_wstate(&v[i], state, sizeof(state));
			ctl_iso_time(v[i].started_ms, started, sizeof(started));
			printf("%-8d %-14s %-24s %-20s %8.2f %8ld ",
			       (int)v[i].pid, v[i].label[0] ? v[i].label : "-",
			       state, started,
			       (double)(v[i].utime_us + v[i].stime_us) / 1e6,
			       v[i].maxrss_kb);
			for (size_t k = 0; v[i].argv && v[i].argv[k]; k++)
				printf(" %s", v[i].argv[k]);
			printf("\n");
		}
	}
	tether_free(v);
	return CTL_EX_OK;
}

/* ---- wait, kill, stop, ack ----------------------------------------------- */

static int ctl_seconds(const char *s, int64_t *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (*end || end == s || v < 0 || v > 1e9)
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
	char state[64], name[32];
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
		ctl_worker_json(&w);
		printf("\n");
	} else {
		printf("%s: %s%s\n", ctl_wname(&w, name, sizeof(name)), state,
		       w.timeout ? " (timed out waiting)" : "");
	}
	return w.timeout ? CTL_EX_FAILED : CTL_EX_OK;
}

int ctl_kill(struct ctl *g, struct tether *t, int argc, char **argv)
{
	int sig = SIGTERM, rc, i = 1;
	char name[32];

	if (argc == 3 && ctl_signal_parse(argv[1], &sig) == 0)
		i = 2;
	if (i != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = tether_kill(t, argv[i], sig)) < 0) {
		ctl_err("kill %s: %s", argv[i], ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (g->json)
		printf("{\"target\":\"%s\",\"signal\":\"%s\"}\n", argv[i],
		       ctl_signal_name(sig, name, sizeof(name)));
	else
		printf("%s sent to %s\n", ctl_signal_name(sig, name, sizeof(name)),
		       argv[i]);
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
	char state[64], name[32];
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
		ctl_worker_json(&w);
		printf("\n");
	} else if (w.sigkill) {
		printf("%s: %s after %.1f s grace\n",
		       ctl_wname(&w, name, sizeof(name)), state,
		       (double)grace / 1000.0);
	} else {
		printf("%s: %s after %.1f s\n", ctl_wname(&w, name, sizeof(name)),
		       state, (double)w.after_ms / 1000.0);
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
	unsigned long long from = 0;
	bool follow = false;
	char *end;
	int c, rc;

	(void)g;
	optind = 0;
	while ((c = getopt_long(argc, argv, "f", opts, NULL)) != -1) {
		if (c == 'f') {
			follow = true;
		} else if (c == 'F') {
			from = strtoull(optarg, &end, 10);
			if (*end)
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
