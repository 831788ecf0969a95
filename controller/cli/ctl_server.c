/*
 * The server itself: start one, its status, shut it down.
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

/* ---- start ------------------------------------------------------------ */

int ctl_start(struct ctl *g, struct tether *unused, int argc,
		     char **argv)
{
	static const struct option opts[] = {
		{ "log", required_argument, NULL, 'l' },
		{ "tetherd", required_argument, NULL, 'd' },
		{ "policy", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_start_opts so = TETHER_START_OPTS_INIT;
	char logbuf[4200];
	struct tether *t;
	int c, rc;

	so.socket_path = g->socket_path;
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

/* What an older server does not say (-1) is left out. */
static void ctl_status_text_ex(const struct tether_status_ex *x)
{
	if (x->server_version[0])
		printf("server       tetherd %s%s%s%s\n", x->server_version,
		       x->arch[0] ? " (" : "", x->arch, x->arch[0] ? ")" : "");
	if (x->binary[0])
		printf("binary       %s\n", x->binary);
	if (x->upgrades >= 0) {
		printf("upgrades     %lld", (long long)x->upgrades);
		if (x->upgrade_failures > 0)
			printf(", %lld failed", (long long)x->upgrade_failures);
		if (x->upgrade_error[0])
			printf(" (last: %s)", x->upgrade_error);
		putchar('\n');
	}
	if (x->fd_limit != -1 || x->fd_limit_max != -1) {
		printf("fd limit     ");
		x->fd_limit < 0 ? printf("unlimited") :
				  printf("%lld", (long long)x->fd_limit);
		x->fd_limit_max < 0 ? printf(" (hard unlimited)") :
				      printf(" (hard %lld)",
					     (long long)x->fd_limit_max);
		if (x->spare_fds >= 0)
			printf(", %lld spare slots kept",
			       (long long)x->spare_fds);
		putchar('\n');
	}
	if (x->observers >= 0)
		printf("observers    %lld\n", (long long)x->observers);
	if (x->helpers >= 0)
		printf("helpers      %lld (%lld busy, %lld on calls), %lld jobs\n",
		       (long long)x->helpers, (long long)x->helpers_busy,
		       (long long)x->helpers_syscalls, (long long)x->jobs);
}

/* A number as JSON, null for what the server did not say. */
static void ctl_json_num(const char *key, int64_t v, bool known)
{
	if (known)
		printf(",\"%s\":%lld", key, (long long)v);
	else
		printf(",\"%s\":null", key);
}

static void ctl_json_str_key(const char *key, const char *s)
{
	printf(",\"%s\":", key);
	if (*s)
		ctl_json_string(stdout, s, strlen(s));
	else
		fputs("null", stdout);
}

static void ctl_status_json_ex(const struct tether_status_ex *x)
{
	ctl_json_str_key("server_version", x->server_version);
	ctl_json_str_key("arch", x->arch);
	ctl_json_str_key("binary", x->binary);
	ctl_json_num("upgrades", x->upgrades, x->upgrades >= 0);
	ctl_json_num("upgrade_failures", x->upgrade_failures,
		     x->upgrade_failures >= 0);
	ctl_json_str_key("upgrade_error", x->upgrade_error);
	ctl_json_num("observers", x->observers, x->observers >= 0);
	ctl_json_num("helpers", x->helpers, x->helpers >= 0);
	ctl_json_num("helpers_busy", x->helpers_busy, x->helpers_busy >= 0);
	ctl_json_num("helpers_syscalls", x->helpers_syscalls,
		     x->helpers_syscalls >= 0);
	ctl_json_num("jobs", x->jobs, x->jobs >= 0);
	/* -1 is unlimited here (or unsaid: then both are) */
	ctl_json_num("fd_limit", x->fd_limit, x->fd_limit >= 0);
	ctl_json_num("fd_limit_max", x->fd_limit_max, x->fd_limit_max >= 0);
	ctl_json_num("spare_fds", x->spare_fds, x->spare_fds >= 0);
}

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

int ctl_status(struct ctl *g, struct tether *t, int argc, char **argv)
{
	struct tether_status st;
	struct tether_status_ex x = { .struct_size = sizeof(x) };
	int rc;

	(void)argv;
	if (argc > 1)
		return CTL_EX_USAGE;
	if ((rc = tether_status_ex(t, &st, &x)) < 0) {
		ctl_err("status: %s", ctl_why(t, rc));
		return ctl_status_of(rc);
	}
	if (!g->json) {
		ctl_status_text(g, &st);
		ctl_status_text_ex(&x);
		return CTL_EX_OK;
	}
	printf("{\"pid\":%d,\"socket\":", (int)st.pid);
	ctl_json_string(stdout, g->socket_path, strlen(g->socket_path));
	printf(",\"persistent\":%s,\"generation\":%llu,\"attached\":%s,"
	       "\"controller_pid\":%d,\"controller_since\":%lld,"
	       "\"uptime_ms\":%llu,\"fds\":%u,\"internal_fds\":%u,"
	       "\"labels\":%u,\"children\":%u,\"workers\":%u",
	       st.persistent ? "true" : "false",
	       (unsigned long long)st.generation, st.attached ? "true" : "false",
	       (int)st.controller_pid, (long long)st.controller_since,
	       (unsigned long long)st.uptime_ms, st.nfds, st.ninternal,
	       st.nlabels, st.nchildren, st.nworkers);
	ctl_status_json_ex(&x);
	puts("}");
	return CTL_EX_OK;
}

/* ---- shutdown --------------------------------------------------------- */

int ctl_shutdown(struct ctl *g, struct tether *t, int argc, char **argv)
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

/* ---- upgrade ---------------------------------------------------------- */

int ctl_upgrade(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tetherd", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct tether_upgrade_result res = { .struct_size = sizeof(res) };
	const char *binary = NULL;
	char abs[4096], *end;
	long long timeout = 30000;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'd') {
			binary = optarg;
		} else if (c == 't') {
			timeout = strtoll(optarg, &end, 10);
			if (*end || end == optarg || timeout <= 0)
				return CTL_EX_USAGE;
		} else {
			return CTL_EX_USAGE;
		}
	}
	if (optind != argc)
		return CTL_EX_USAGE;
	/* The server resolves nothing for us: a relative path is ours. */
	if (binary && binary[0] != '/') {
		if (!realpath(binary, abs)) {
			ctl_err("upgrade: %s: %s", binary, strerror(errno));
			return CTL_EX_FAILED;
		}
		binary = abs;
	}
	rc = tether_upgrade(t, g->socket_path,
			    g->takeover ? TETHER_CONNECT_TAKEOVER : 0, binary,
			    timeout, &res);
	if (rc < 0) {
		ctl_err("upgrade: %s", ctl_why(t, rc));
		return rc == -ETIMEDOUT ? CTL_EX_TIMEOUT : ctl_status_of(rc);
	}
	if (g->json) {
		printf("{\"pid\":%d,\"upgrades\":%u,\"from\":", (int)res.pid,
		       res.upgrades);
		ctl_json_string(stdout, res.from_version,
				strlen(res.from_version));
		printf(",\"to\":");
		ctl_json_string(stdout, res.to_version, strlen(res.to_version));
		printf("}\n");
	} else {
		printf("tetherd pid %d upgraded: %s -> %s (upgrade %u)\n",
		       (int)res.pid, res.from_version, res.to_version,
		       res.upgrades);
	}
	return CTL_EX_OK;
}
