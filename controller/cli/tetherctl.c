/*
 * tetherctl: drive a tetherd from the shell.  Every invocation is a
 * reconnect: it attaches, does its work, detaches.
 * Exit status: 0 success, 1 the syscall or request failed, 2 usage,
 * 3 cannot reach the server, 4 timeout, 5 denied by policy or role,
 * 6 another controller attached or took over (tetherctl(1), EXIT
 * STATUS).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "ctl.h"

static void ctl_usage(FILE *f)
{
	fprintf(f, "usage: tetherctl [-s PATH | -H ssh://[USER@]HOST[:PORT]"
		   "[/SOCKET]] [--json]\n       [--take-over] [--server-uid UID] "
		   "VERB [ARGS...]\n\nverbs:\n");
	ctl_verbs_usage(f);
	fprintf(f, "\ntetherctl VERB --help (or help VERB) shows a verb's "
		   "usage; tetherctl attach\nis an interactive session.\n");
	fprintf(f, "\nThe socket is -s PATH, else $TETHER_SOCKET, else the "
		   "per-user default;\n-H URL (else $TETHER_HOST) names a "
		   "server on another host, reached over ssh.\nA tetherd (and directories) of uid "
		   "--server-uid, else $TETHER_SERVER_UID,\nis trusted besides "
		   "ours and root's.\nExit: 0 ok, 1 failed, 2 usage, 3 cannot "
		   "reach the server, 4 timeout,\n5 denied by policy or role, "
		   "6 another controller, 130 interrupted.  See tetherctl(1).\n");
}

/* How long a one-shot verb refused by an upgrading server tries again:
 * a drain gives up after 5 s, and the new binary then takes a moment. */
#define CTL_UPGRADE_RETRY_S 10.0

/* Attach the way the verb needs, run it, detach.  SIGINT while it waits
 * for the server ends the wait; what a call left running is cancelled
 * and the exit status is 130 (attach handles its own). */
static int ctl_run(struct ctl *g, const struct ctl_verb *v, int argc,
		   char **argv)
{
	struct tether *t = NULL;
	enum ctl_conn conn = v->fn == ctl_attach ? ctl_attach_conn(argc, argv)
						 : v->conn;
	double retry_end = 0;
	unsigned flags = conn == CTL_CONN_OBSERVE ? TETHER_CONNECT_OBSERVE
			 : g->takeover		  ? TETHER_CONNECT_TAKEOVER
						  : 0;
	int rc;

	/* a one-shot verb sends its request right behind the HELLO */
	if (ctl_verb_pipelined(v))
		flags |= TETHER_CONNECT_PIPELINE;

	/* Usage needs no server, and must not wait for one. */
	if (ctl_help_wanted(argc, argv)) {
		ctl_help_verb(stdout, v);
		return CTL_EX_OK;
	}
	if (v->precheck && (rc = v->precheck(argc, argv))) {
		fprintf(stderr, "usage: tetherctl %s\n", v->usage);
		ctl_err_note("usage: tetherctl %s", v->usage);
		return rc;
	}
	if (g->host && v->fn == ctl_start) {
		ctl_err("start runs tetherd on this host: with -H, run it on "
			"the server's (ssh HOST tetherctl start)");
		return CTL_EX_USAGE;
	}
	ctl_upgrading_arm(conn != CTL_CONN_NONE &&
			  ctl_verb_retried_at_upgrade(v));
again:
	if (conn != CTL_CONN_NONE && g->host &&
	    (rc = tether_connect_url(g->host, flags, g->server_uid, &t)) < 0)
		return ctl_connect_failed(NULL, g->host, rc);
	if (conn != CTL_CONN_NONE && !g->host &&
	    (rc = tether_connect_uid(g->socket_path, flags, g->server_uid,
				     &t)) < 0)
		return ctl_connect_failed(NULL, g->socket_path, rc);
	if (t && ctl_verb_pipelined(v))
		ctl_pipe_watch(t, g->socket_path);
	if (t && ctl_intr_install() == 0)
		tether_set_interrupt_fd(t, ctl_intr_fd());
	rc = ctl_verb_call(g, t, argc, argv);
	/* Refused by a server that is upgrading, the request did not run:
	 * the next binary answers it, as a script would have us do. */
	if (ctl_upgrading_refused() && !ctl_intr_taken()) {
		if (!retry_end)
			retry_end = ctl_now() + CTL_UPGRADE_RETRY_S;
		tether_disconnect(t);
		t = NULL;
		if (ctl_now() < retry_end) {
			nanosleep(&(struct timespec){ .tv_nsec = 50000000 },
				  NULL);
			if (!ctl_intr_taken()) {
				ctl_upgrading_arm(true);
				goto again;
			}
		}
		ctl_upgrading_say();
		if (g->json)
			ctl_err_json(stdout, rc);
	}
	ctl_upgrading_arm(false);
	if (conn != CTL_CONN_NONE && v->fn != ctl_attach && ctl_intr_taken()) {
		if (t && (v->fn == ctl_call || v->fn == ctl_batch))
			ctl_intr_cancel(t);
		rc = CTL_EX_INTERRUPTED;
	}
	tether_disconnect(t);
	return rc;
}

/* A uid in decimal, not -1 (which names no one). */
static int ctl_parse_uid(const char *s, uid_t *uid)
{
	uint64_t v;

	if (ctl_parse_u64(s, &v) < 0 || v >= (uid_t)-1)
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

/* -H URL, else $TETHER_HOST (unset or empty: this host).  The socket
 * is then the URL's: -s with it is a mistake, $TETHER_SOCKET ignored.
 * dial-stdio, ssh's remote command, ignores $TETHER_HOST. */
static int ctl_host(struct ctl *g, const struct ctl_verb *v)
{
	const char *env = getenv("TETHER_HOST");

	/* dial-stdio is the far end: an environment meant for controllers
	 * there does not make it dial further */
	if (!g->host && env && *env && !(v && v->fn == ctl_dial_stdio))
		g->host = env;
	if (g->host && strncmp(g->host, "ssh://", 6) &&
	    strncmp(g->host, "unix://", 7)) {
		ctl_err("-H %s: not ssh://[USER@]HOST[:PORT][/SOCKET] (or "
			"unix://PATH)", g->host);
		return -EINVAL;
	}
	if (g->host && g->socket_path) {
		ctl_err("-s names a socket on this host; with -H the socket "
			"is the URL's path (ssh://HOST/SOCKET)");
		return -EINVAL;
	}
	/* what status and errors name as the server's place */
	if (g->host)
		g->socket_path = g->host;
	return 0;
}

static int ctl_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "take-over", no_argument, NULL, 'T' },
		{ "server-uid", required_argument, NULL, 'U' },
		{ "host", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const struct ctl_verb *v;
	struct ctl g = { 0 };
	const char *server_uid = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "+s:H:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			g.socket_path = optarg;
			break;
		case 'H':
			g.host = optarg;
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
	v = ctl_verb_find(argv[optind]);
	if (ctl_host(&g, v) < 0)
		return CTL_EX_USAGE;
	if (!g.socket_path) {
		if (tether_default_socket(g.socket_buf, sizeof(g.socket_buf)) < 0) {
			ctl_err("cannot build the default socket path");
			return CTL_EX_USAGE;
		}
		g.socket_path = g.socket_buf;
	}
	signal(SIGPIPE, SIG_IGN);
	/* The shell's completion: not a verb of the table, never listed. */
	if (!strcmp(argv[optind], "complete"))
		return ctl_complete_cmd(&g, argc - optind, argv + optind);
	if (!v) {
		ctl_err("unknown verb '%s'", argv[optind]);
		ctl_usage(stderr);
		return CTL_EX_USAGE;
	}
	return ctl_run(&g, v, argc - optind, argv + optind);
}

/* --json among the options before the verb (read again here: a usage
 * error may come before getopt reached it). */
static bool ctl_argv_json(int argc, char **argv)
{
	for (int i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j"))
			return true;
		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket") ||
		    !strcmp(argv[i], "--server-uid") ||
		    !strcmp(argv[i], "-H") || !strcmp(argv[i], "--host"))
			i++;
	}
	return false;
}

/* Failures before a verb ran (usage, connect) are JSON too: whatever
 * failed and was not printed yet is, once. */
int main(int argc, char **argv)
{
	int rc = ctl_main(argc, argv);

	if (ctl_argv_json(argc, argv))
		ctl_err_json(stdout, rc);
	return rc;
}
