/*
 * tetherctl: drive a tetherd from the shell.  Every invocation is a
 * reconnect: it attaches, does its work, detaches.
 * Exit status: 0 success, 1 the syscall or request failed, 2 usage,
 * 3 cannot reach the server.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"

void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tetherctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The server's own words when it gave any, else strerror. */
const char *ctl_why(const struct tether *t, int rc)
{
	const char *s = tether_last_error(t);

	return s && *s ? s : strerror(-rc);
}

int ctl_status_of(int rc)
{
	return rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN ||
			       rc == -ECONNABORTED
		       ? CTL_EX_UNREACHABLE
		       : CTL_EX_FAILED;
}

/* ---- start ------------------------------------------------------------ */

static int ctl_start(struct ctl *g, struct tether *unused, int argc,
		     char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "tetherd", required_argument, NULL, 'd' },
		{ "policy", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_start_opts so = { .socket_path = g->socket_path };
	char logbuf[4200];
	struct tether *t;
	int c, rc;

	(void)unused;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (c == 'l')
			so.log_path = optarg;
		else if (c == 'd')
			so.tetherd = optarg;
		else if (c == 'p')
			so.policy = optarg;
		else
			return CTL_EX_USAGE;
	}
	/* Anything after the options goes to tetherd (e.g. --allow-uid). */
	so.extra_args = (const char *const *)argv + optind;
	/* A persistent server must not keep our stderr: log beside the
	 * socket unless told otherwise ("-" keeps stderr). */
	if (!so.log_path) {
		snprintf(logbuf, sizeof(logbuf), "%s.log", g->socket_path);
		so.log_path = logbuf;
	} else if (!strcmp(so.log_path, "-")) {
		so.log_path = NULL;
	}
	if ((rc = tether_start(&so, &t)) < 0) {
		ctl_err("start: %s", ctl_why(NULL, rc));
		return CTL_EX_FAILED;
	}
	if ((rc = tether_make_persistent(t)) < 0) {
		ctl_err("make persistent: %s", ctl_why(t, rc));
		tether_disconnect(t);
		return CTL_EX_FAILED;
	}
	if (g->json) {
		printf("{\"pid\":%d,\"socket\":", (int)tether_info(t)->pid);
		ctl_json_string(stdout, g->socket_path, strlen(g->socket_path));
		printf("}\n");
	} else {
		printf("%d\n", (int)tether_info(t)->pid);
	}
	tether_disconnect(t);
	return CTL_EX_OK;
}

/* ---- status --------------------------------------------------------- */

static void ctl_status_text(const struct ctl *g, const struct tether_status *st)
{
	char when[32] = "?";
	time_t since = (time_t)st->controller_since;
	struct tm tm;

	printf("pid          %d\n", (int)st->pid);
	printf("socket       %s\n", g->socket_path);
	printf("persistent   %s\n", st->persistent ? "yes" : "no");
	printf("generation   %llu\n", (unsigned long long)st->generation);
	if (st->attached && st->controller_pid) {
		if (since && gmtime_r(&since, &tm))
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("controller   attached (pid %d since %s)\n",
		       (int)st->controller_pid, when);
	} else {
		printf("controller   detached\n");
	}
	printf("uptime       %.1f s\n", (double)st->uptime_ms / 1000.0);
	printf("fds          %u (+%u internal)\n", st->nfds, st->ninternal);
	printf("labels       %u\n", st->nlabels);
	printf("workers      %u running (%u records)\n", st->nchildren,
	       st->nworkers);
}

static int ctl_status(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_status st;
	int rc;

	(void)argv;
	if (argc > 1)
		return CTL_EX_USAGE;
	if ((rc = tether_status(t, &st)) < 0) {
		ctl_err("status: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (!g->json) {
		ctl_status_text(g, &st);
		return CTL_EX_OK;
	}
	printf("{\"pid\":%d,\"socket\":", (int)st.pid);
	ctl_json_string(stdout, g->socket_path, strlen(g->socket_path));
	printf(",\"persistent\":%s,\"generation\":%llu,\"attached\":%s,"
	       "\"controller_pid\":%d,\"controller_since\":%lld,"
	       "\"uptime_ms\":%llu,\"fds\":%u,\"internal_fds\":%u,"
	       "\"labels\":%u,\"children\":%u,\"workers\":%u}\n",
	       st.persistent ? "true" : "false",
	       (unsigned long long)st.generation, st.attached ? "true" : "false",
	       (int)st.controller_pid, (long long)st.controller_since,
	       (unsigned long long)st.uptime_ms, st.nfds, st.ninternal,
	       st.nlabels, st.nchildren, st.nworkers);
	return CTL_EX_OK;
}

/* ---- call ------------------------------------------------------------- */

/* call [--async] [--timeout S] [--detach-cancel] [--sync] NAME ARG...:
 * options end at the syscall name, so negative numbers among the
 * arguments are left alone.  Returns the index of the name. */
static int ctl_call_opts(int argc, char **argv, struct tether_call *c)
{
	char *end;
	double sec;
	int i;

	for (i = 1; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--async")) {
			c->flags |= TETHER_CALL_ASYNC;
		} else if (!strcmp(argv[i], "--detach-cancel")) {
			c->flags |= TETHER_CALL_DETACH_CANCEL;
		} else if (!strcmp(argv[i], "--sync")) {
			c->flags |= TETHER_CALL_SYNC;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			sec = strtod(argv[++i], &end);
			if (*end || sec <= 0)
				return -EINVAL;
			c->timeout_ms = (uint64_t)(sec * 1000.0);
		} else if (!strcmp(argv[i], "--")) {
			return i + 1;
		} else {
			return -EINVAL;
		}
	}
	return i;
}

/* call's options and arguments, parsed and checked against the syscall
 * table: CTL_EX_OK, or CTL_EX_USAGE with the reason printed. */
static int ctl_call_prepare(int argc, char **argv, struct ctl_callspec *cs,
			    struct tether_call *opts)
{
	char err[256];
	int first;

	memset(cs, 0, sizeof(*cs));
	if ((first = ctl_call_opts(argc, argv, opts)) < 0 || first >= argc)
		return CTL_EX_USAGE;
	if (ctl_call_parse(argc - first, argv + first, cs, err,
			   sizeof(err)) < 0 ||
	    ctl_call_check(cs, err, sizeof(err)) < 0) {
		ctl_err("call: %s", err);
		ctl_callspec_free(cs);
		return CTL_EX_USAGE;
	}
	return CTL_EX_OK;
}

/* Run by ctl_run before it connects: a call that cannot be meant is a
 * usage error whether or not a server listens, and disturbs none. */
static int ctl_call_precheck(int argc, char **argv)
{
	struct ctl_callspec cs;
	struct tether_call opts = { 0 };
	int rc = ctl_call_prepare(argc, argv, &cs, &opts);

	ctl_callspec_free(&cs);
	return rc;
}

static int ctl_call(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct ctl_callspec cs;
	struct tether_call opts = { 0 };
	int rc;

	/* again: attach runs verbs without ctl_run */
	if ((rc = ctl_call_prepare(argc, argv, &cs, &opts)) != CTL_EX_OK)
		return rc;
	cs.call.flags |= opts.flags;
	cs.call.timeout_ms = opts.timeout_ms;
	if ((rc = tether_call(t, &cs.call)) < 0) {
		ctl_err("%s: %s", cs.name, ctl_why(t, rc));
		rc = ctl_status_of(rc);
	} else if ((cs.call.flags & TETHER_CALL_ASYNC) && cs.call.async_id) {
		if (g->json)
			printf("{\"id\":%llu,\"syscall\":\"%s\",\"state\":"
			       "\"running\"}\n",
			       (unsigned long long)cs.call.async_id, cs.name);
		else
			printf("%llu\n", (unsigned long long)cs.call.async_id);
		rc = CTL_EX_OK;
	} else {
		if (g->json)
			ctl_call_print_json(stdout, &cs);
		else
			ctl_call_print(stdout, &cs);
		rc = cs.call.ret < 0 ? CTL_EX_FAILED : CTL_EX_OK;
	}
	fflush(stdout);
	ctl_callspec_free(&cs);
	return rc;
}

/* ---- shutdown --------------------------------------------------------- */

static int ctl_shutdown(struct ctl *g, struct tether *t, int argc, char **argv)
{
	pid_t pid = tether_info(t)->pid;
	bool force = argc == 2 && !strcmp(argv[1], "--force");
	struct pollfd pfd;
	int rc;

	if (argc > 2 || (argc == 2 && !force))
		return CTL_EX_USAGE;
	rc = force ? tether_shutdown_force(t) : tether_shutdown(t);
	if (rc < 0) {
		ctl_err("shutdown: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	/* Return once it is gone, so scripts can start a new one at once:
	 * a pidfd turns readable at exit, zombie or not. */
	if ((pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0)) >= 0) {
		pfd.events = POLLIN;
		rc = poll(&pfd, 1, 10000);
		close(pfd.fd);
		if (rc == 0) {
			ctl_err("shutdown: tetherd pid %d still runs after 10 s",
				(int)pid);
			return CTL_EX_FAILED;
		}
	}
	if (g->json)
		printf("{\"pid\":%d,\"stopped\":true}\n", (int)pid);
	else
		printf("tetherd pid %d stopped\n", (int)pid);
	return CTL_EX_OK;
}

/* ---- verbs and main ------------------------------------------------- */

static const struct ctl_verb ctl_verbs[] = {
	{ "start", ctl_start, CTL_CONN_NONE,
	  "start [--log FILE|-] [--tetherd PATH] [--policy FILE] "
	  "[TETHERD-OPTIONS...]" },
	{ "status", ctl_status, CTL_CONN_OBSERVE, "status" },
	{ "policy", ctl_policy, CTL_CONN_OBSERVE, "policy" },
	{ "call", ctl_call, CTL_CONN_CONTROL,
	  "call [--async] [--timeout S] [--detach-cancel] [--sync] NAME "
	  "[ARG...]" },
	{ "pending", ctl_pending, CTL_CONN_OBSERVE, "pending" },
	{ "collect", ctl_collect, CTL_CONN_CONTROL,
	  "collect [--no-wait] [--timeout S] ID" },
	{ "cancel", ctl_cancel, CTL_CONN_CONTROL, "cancel ID" },
	{ "batch", ctl_batch, CTL_CONN_CONTROL, "batch [--stop] FILE|-" },
	{ "fds", ctl_fds, CTL_CONN_OBSERVE, "fds" },
	{ "label", ctl_label, CTL_CONN_CONTROL, "label FD NAME" },
	{ "unlabel", ctl_unlabel, CTL_CONN_CONTROL, "unlabel NAME" },
	{ "gc", ctl_gc, CTL_CONN_CONTROL, "gc [--keep FD,...] [--dry-run]" },
	{ "spawn", ctl_spawn, CTL_CONN_CONTROL,
	  "spawn [--label L] [--capture] [--env K=V]... [--clear-env] "
	  "[--cwd D] [--user U] [--setsid] [--cgroup DIR] [--log-max BYTES] "
	  "[--fd CHILD=SERVER]... [--policy FILE] -- CMD [ARGS...]" },
	{ "ps", ctl_ps, CTL_CONN_OBSERVE, "ps" },
	{ "wait", ctl_wait, CTL_CONN_OBSERVE, "wait [--timeout S] LABEL|PID" },
	{ "kill", ctl_kill, CTL_CONN_CONTROL, "kill [-SIG] LABEL|PID" },
	{ "stop", ctl_stop, CTL_CONN_CONTROL, "stop [--grace S] LABEL|PID" },
	{ "logs", ctl_logs, CTL_CONN_OBSERVE, "logs [-f] [--from N] LABEL|PID" },
	{ "ack", ctl_ack, CTL_CONN_CONTROL, "ack LABEL|PID" },
	{ "put", ctl_put, CTL_CONN_CONTROL, "put [--mode OCTAL] LOCAL|- REMOTE" },
	{ "get", ctl_get, CTL_CONN_CONTROL, "get REMOTE LOCAL|-" },
	{ "give", ctl_give, CTL_CONN_CONTROL, "give FD [--as N] -- CMD [ARGS...]" },
	{ "take", ctl_take, CTL_CONN_CONTROL, "take LOCALPATH [--label L]" },
	{ "attach", ctl_attach, CTL_CONN_CONTROL, "attach" },
	{ "shutdown", ctl_shutdown, CTL_CONN_CONTROL, "shutdown [--force]" },
	{ NULL, NULL, CTL_CONN_NONE, NULL },
};

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

/* Run verb argv[0] on t; print its usage when it says so. */
int ctl_verb_call(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const struct ctl_verb *v = ctl_verb_find(argv[0]);
	int rc;

	if (!v) {
		ctl_err("unknown verb '%s'", argv[0]);
		return CTL_EX_USAGE;
	}
	rc = v->fn(g, t, argc, argv);
	if (rc == CTL_EX_USAGE)
		fprintf(stderr, "usage: tetherctl %s\n", v->usage);
	return rc;
}

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: tetherctl [-s PATH] [--json] [--take-over] "
		   "[--server-uid UID] VERB [ARGS...]\n\nverbs:\n");
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++)
		fprintf(f, "  %s\n", v->usage);
	fprintf(f, "\nThe socket is -s PATH, else $TETHER_SOCKET, else the "
		   "per-user default.\nA tetherd (and directories) of uid "
		   "--server-uid, else $TETHER_SERVER_UID,\nis trusted besides "
		   "ours and root's.\nExit: 0 ok, 1 failed, 2 usage, 3 cannot "
		   "reach the server.  See tetherctl(1).\n");
}

/* Attach the way the verb needs, run it, detach. */
static int ctl_run(struct ctl *g, const struct ctl_verb *v, int argc,
		   char **argv)
{
	struct tether *t = NULL;
	unsigned flags = v->conn == CTL_CONN_OBSERVE ? TETHER_CONNECT_OBSERVE
			 : g->takeover		    ? TETHER_CONNECT_TAKEOVER
						    : 0;
	int rc;

	if (v->fn == ctl_call && (rc = ctl_call_precheck(argc, argv))) {
		fprintf(stderr, "usage: tetherctl %s\n", v->usage);
		return rc;
	}
	if (v->conn != CTL_CONN_NONE &&
	    (rc = tether_connect_uid(g->socket_path, flags, g->server_uid,
				     &t)) < 0) {
		ctl_err("%s: %s%s", g->socket_path, ctl_why(NULL, rc),
			rc == -EBUSY ? " (--take-over replaces it)" : "");
		return CTL_EX_UNREACHABLE;
	}
	rc = ctl_verb_call(g, t, argc, argv);
	tether_disconnect(t);
	return rc;
}

/* A uid in decimal, not -1 (which names no one). */
static int ctl_parse_uid(const char *s, uid_t *uid)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end || errno || v >= (uid_t)-1)
		return -EINVAL;
	*uid = (uid_t)v;
	return 0;
}

/* --server-uid UID, else $TETHER_SERVER_UID (unset or empty: none): a
 * tetherd of that uid, and directories of that uid on the way to its
 * socket, are trusted besides ours and root's. */
static int ctl_server_uid(struct ctl *g, const char *opt)
{
	const char *env = getenv("TETHER_SERVER_UID");

	g->server_uid = TETHER_UID_NONE;
	if (opt && ctl_parse_uid(opt, &g->server_uid) < 0) {
		ctl_err("--server-uid: '%s' is not a uid", opt);
		return -EINVAL;
	}
	if (!opt && env && *env && ctl_parse_uid(env, &g->server_uid) < 0) {
		ctl_err("TETHER_SERVER_UID: '%s' is not a uid", env);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "take-over", no_argument, NULL, 'T' },
		{ "server-uid", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_verb *v;
	struct ctl g = { 0 };
	const char *server_uid = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+s:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			g.socket_path = optarg;
			break;
		case 'j':
			g.json = true;
			break;
		case 'T':
			g.takeover = true;
			break;
		case 'U':
			server_uid = optarg;
			break;
		case 'h':
			ctl_usage(stdout);
			return CTL_EX_OK;
		case 'V':
			printf("tetherctl %s\n", PACKAGE_VERSION);
			return CTL_EX_OK;
		default:
			ctl_usage(stderr);
			return CTL_EX_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return CTL_EX_USAGE;
	}
	if (ctl_server_uid(&g, server_uid) < 0)
		return CTL_EX_USAGE;
	if (!g.socket_path) {
		if (tether_default_socket(g.socket_buf, sizeof(g.socket_buf)) < 0) {
			ctl_err("cannot build the default socket path");
			return CTL_EX_USAGE;
		}
		g.socket_path = g.socket_buf;
	}
	signal(SIGPIPE, SIG_IGN);
	if (!(v = ctl_verb_find(argv[optind]))) {
		ctl_err("unknown verb '%s'", argv[optind]);
		ctl_usage(stderr);
		return CTL_EX_USAGE;
	}
	return ctl_run(&g, v, argc - optind, argv + optind);
}
