/*
 * tetherctl: drive a tetherd from the shell.
 * Exit status: 0 success, 1 the syscall or request failed, 2 usage,
 * 3 cannot reach the server.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "ctl.h"
#include "tether.h"

#define EX_OK 0
#define EX_FAILED 1
#define EX_USAGE 2
#define EX_UNREACHABLE 3

struct ctl {
	const char *socket_path;
	char socket_buf[4096];
	bool json;
	bool takeover;
};

struct ctl_verb {
	const char *name;
	int (*fn)(struct ctl *g, int argc, char **argv);
	const char *usage;
};

static void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void ctl_err(const char *fmt, ...)
{
	va_list ap;

	fputs("tetherctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The server's own words when it gave any, else strerror. */
static const char *ctl_why(const struct tether *t, int rc)
{
	const char *s = tether_last_error(t);

	return s && *s ? s : strerror(-rc);
}

/* Attach as the controller (or as a read-only observer for the verbs
 * that only look).  Prints why not and returns NULL. */
static struct tether *ctl_connect(struct ctl *g, bool observe)
{
	struct tether *t;
	unsigned flags = observe ? TETHER_CONNECT_OBSERVE
				 : g->takeover ? TETHER_CONNECT_TAKEOVER : 0;
	int rc = tether_connect(g->socket_path, flags, &t);

	if (rc < 0) {
		ctl_err("%s: %s%s", g->socket_path, ctl_why(NULL, rc),
			rc == -EBUSY ? " (use --take-over to replace it)" : "");
		return NULL;
	}
	return t;
}

/* ---- start ------------------------------------------------------------ */

static int ctl_start(struct ctl *g, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "tetherd", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_start_opts so = { .socket_path = g->socket_path };
	char logbuf[4200];
	struct tether *t;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+l:", opts, NULL)) != -1) {
		if (c == 'l')
			so.log_path = optarg;
		else if (c == 'd')
			so.tetherd = optarg;
		else
			return EX_USAGE;
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
		return EX_FAILED;
	}
	if ((rc = tether_make_persistent(t)) < 0) {
		ctl_err("make persistent: %s", ctl_why(t, rc));
		tether_disconnect(t);
		return EX_FAILED;
	}
	if (g->json)
		printf("{\"pid\":%d,\"socket\":", (int)tether_info(t)->pid);
	if (g->json) {
		ctl_json_string(stdout, g->socket_path, strlen(g->socket_path));
		printf("}\n");
	} else {
		printf("%d\n", (int)tether_info(t)->pid);
	}
	tether_disconnect(t);
	return EX_OK;
}

/* ---- status --------------------------------------------------------- */

static void ctl_status_text(const struct ctl *g, const struct tether_status *st,
			    time_t since)
{
	char when[32] = "?";
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
}

static int ctl_status(struct ctl *g, int argc, char **argv)
{
	struct tether_status st;
	struct tether *t;
	int rc;

	(void)argv;
	if (argc > 1)
		return EX_USAGE;
	if (!(t = ctl_connect(g, true)))
		return EX_UNREACHABLE;
	rc = tether_status(t, &st);
	if (rc < 0) {
		ctl_err("status: %s", ctl_why(t, rc));
		tether_disconnect(t);
		return EX_FAILED;
	}
	if (g->json) {
		printf("{\"pid\":%d,\"socket\":", (int)st.pid);
		ctl_json_string(stdout, g->socket_path, strlen(g->socket_path));
		printf(",\"persistent\":%s,\"generation\":%llu,"
		       "\"attached\":%s,\"controller_pid\":%d,"
		       "\"uptime_ms\":%llu,\"fds\":%u,\"internal_fds\":%u,"
		       "\"labels\":%u}\n",
		       st.persistent ? "true" : "false",
		       (unsigned long long)st.generation,
		       st.attached ? "true" : "false", (int)st.controller_pid,
		       (unsigned long long)st.uptime_ms, st.nfds, st.ninternal,
		       st.nlabels);
	} else {
		ctl_status_text(g, &st, (time_t)st.controller_since);
	}
	tether_disconnect(t);
	return EX_OK;
}

/* ---- call ------------------------------------------------------------- */

/* Run one parsed call on an attached handle and print it. */
static int ctl_run_call(struct ctl *g, struct tether *t,
			struct ctl_callspec *cs)
{
	int rc = tether_call(t, &cs->call);

	if (rc < 0) {
		ctl_err("%s: %s", cs->name, ctl_why(t, rc));
		return rc == -ECONNRESET || rc == -EPIPE ? EX_UNREACHABLE
							 : EX_FAILED;
	}
	if (g->json)
		ctl_call_print_json(stdout, cs);
	else
		ctl_call_print(stdout, cs);
	fflush(stdout);
	return cs->call.ret < 0 ? EX_FAILED : EX_OK;
}

static int ctl_call(struct ctl *g, int argc, char **argv)
{
	struct ctl_callspec cs;
	struct tether *t;
	char err[256];
	int rc;

	if (argc < 2)
		return EX_USAGE;
	if (ctl_call_parse(argc - 1, argv + 1, &cs, err, sizeof(err)) < 0) {
		ctl_err("call: %s", err);
		return EX_USAGE;
	}
	if (!(t = ctl_connect(g, false))) {
		ctl_callspec_free(&cs);
		return EX_UNREACHABLE;
	}
	rc = ctl_run_call(g, t, &cs);
	ctl_callspec_free(&cs);
	tether_disconnect(t);
	return rc;
}

/* ---- shutdown --------------------------------------------------------- */

static int ctl_shutdown(struct ctl *g, int argc, char **argv)
{
	struct tether *t;
	pid_t pid;
	int rc;

	(void)argv;
	if (argc > 1)
		return EX_USAGE;
	if (!(t = ctl_connect(g, false)))
		return EX_UNREACHABLE;
	pid = tether_info(t)->pid;
	rc = tether_shutdown(t);
	if (rc < 0)
		ctl_err("shutdown: %s", ctl_why(t, rc));
	tether_disconnect(t);
	if (rc < 0)
		return EX_FAILED;
	/* Return once it is gone, so scripts can start a new one at once. */
	for (int i = 0; i < 1000 && kill(pid, 0) == 0; i++) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	if (!g->json)
		printf("tetherd pid %d stopped\n", (int)pid);
	else
		printf("{\"pid\":%d,\"stopped\":true}\n", (int)pid);
	return EX_OK;
}

/* ---- main -------------------------------------------------------------- */

static const struct ctl_verb ctl_verbs[] = {
	{ "start", ctl_start, "start [--log FILE|-] [--tetherd PATH] "
			      "[TETHERD-OPTIONS...]" },
	{ "status", ctl_status, "status" },
	{ "call", ctl_call, "call NAME [ARG...]" },
	{ "shutdown", ctl_shutdown, "shutdown" },
	{ NULL, NULL, NULL },
};

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: tetherctl [-s PATH] [--json] [--take-over] VERB "
		   "[ARGS...]\n\nverbs:\n");
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++)
		fprintf(f, "  %s\n", v->usage);
	fprintf(f, "\nThe socket is -s PATH, else $TETHER_SOCKET, else the "
		   "per-user default.\nExit: 0 ok, 1 failed, 2 usage, 3 cannot "
		   "reach the server.  See tetherctl(1).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "take-over", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl g = { 0 };
	int c, rc;

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
		case 'h':
			ctl_usage(stdout);
			return EX_OK;
		case 'V':
			printf("tetherctl %s\n", PACKAGE_VERSION);
			return EX_OK;
		default:
			ctl_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		ctl_usage(stderr);
		return EX_USAGE;
	}
	if (!g.socket_path) {
		if (tether_default_socket(g.socket_buf, sizeof(g.socket_buf)) < 0) {
			ctl_err("cannot build the default socket path");
			return EX_USAGE;
		}
		g.socket_path = g.socket_buf;
	}
	signal(SIGPIPE, SIG_IGN);
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++) {
		if (strcmp(v->name, argv[optind]))
			continue;
		rc = v->fn(&g, argc - optind, argv + optind);
		if (rc == EX_USAGE)
			fprintf(stderr, "usage: tetherctl %s\n", v->usage);
		return rc;
	}
	ctl_err("unknown verb '%s'", argv[optind]);
	ctl_usage(stderr);
	return EX_USAGE;
}
