/*
 * The verb table: every verb's name, function, how it needs the server,
 * its usage line and what it does in one line (for help); attach and the command line both run verbs here.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

static const struct ctl_verb ctl_verbs[] = {
	{ "start", ctl_start, CTL_CONN_NONE,
	  "start [--log FILE|-] [--tetherd PATH] [--policy FILE] "
	  "[TETHERD-OPTIONS...]", NULL,
	  "start a tetherd and make it persistent" },
	{ "status", ctl_status, CTL_CONN_OBSERVE, "status", NULL,
	  "the server: pid, generation, controller, fds" },
	{ "policy", ctl_policy, CTL_CONN_OBSERVE, "policy", NULL,
	  "the policy in force" },
	{ "call", ctl_call, CTL_CONN_CONTROL,
	  "call [--async] [--timeout S] [--detach-cancel] [--sync] [--raw] "
	  "NAME [ARG...]", ctl_call_precheck,
	  "run one syscall in the server (in attach a bare NAME too)" },
	{ "pending", ctl_pending, CTL_CONN_OBSERVE, "pending", NULL,
	  "requests still running or parked" },
	{ "collect", ctl_collect, CTL_CONN_CONTROL,
	  "collect [--no-wait] [--timeout S] ID", NULL,
	  "the result of a request that ran on" },
	{ "cancel", ctl_cancel, CTL_CONN_CONTROL, "cancel ID", NULL,
	  "cancel a running request" },
	{ "batch", ctl_batch, CTL_CONN_CONTROL, "batch [--stop] FILE|-", NULL,
	  "run the calls of a file in one round trip" },
	{ "submit", ctl_submit, CTL_CONN_CONTROL,
	  "submit [--wait] [--timeout S] FILE|-", NULL,
	  "start the calls of a file side by side; --wait reaps them" },
	{ "fds", ctl_fds, CTL_CONN_OBSERVE, "fds", NULL,
	  "the fds the server holds, with their labels" },
	{ "label", ctl_label, CTL_CONN_CONTROL, "label FD NAME", NULL,
	  "give a server fd a name" },
	{ "unlabel", ctl_unlabel, CTL_CONN_CONTROL, "unlabel NAME", NULL,
	  "remove a label" },
	{ "gc", ctl_gc, CTL_CONN_CONTROL, "gc [--keep FD,...] [--dry-run]", NULL,
	  "close the fds nobody owns" },
	{ "spawn", ctl_spawn, CTL_CONN_CONTROL,
	  "spawn [--label L] [--capture] [--env K=V]... [--clear-env] "
	  "[--cwd D] [--user U] [--setsid] [--cgroup DIR] [--log-max BYTES] "
	  "[--fd CHILD=SERVER]... [--policy FILE] -- CMD [ARGS...]", NULL,
	  "start a worker process" },
	{ "ps", ctl_ps, CTL_CONN_OBSERVE, "ps [--env-digest]", NULL,
	  "the workers, running and exited" },
	{ "wait", ctl_wait, CTL_CONN_OBSERVE, "wait [--timeout S] LABEL|PID", NULL,
	  "wait for a worker to exit" },
	{ "kill", ctl_kill, CTL_CONN_CONTROL, "kill [-SIG] LABEL|PID", NULL,
	  "send a worker a signal" },
	{ "stop", ctl_stop, CTL_CONN_CONTROL, "stop [--grace S] LABEL|PID", NULL,
	  "SIGTERM a worker, SIGKILL after the grace period" },
	{ "logs", ctl_logs, CTL_CONN_OBSERVE, "logs [-f] [--from N] LABEL|PID", NULL,
	  "a worker's captured output (-f follows it)" },
	{ "ack", ctl_ack, CTL_CONN_CONTROL, "ack LABEL|PID", NULL,
	  "forget an exited worker" },
	{ "put", ctl_put, CTL_CONN_CONTROL, "put [--mode OCTAL] [--progress[=bar|json]] "
	  "[--no-progress] [--quiet] LOCAL|- REMOTE", NULL,
	  "copy a local file (or stdin) to the server" },
	{ "get", ctl_get, CTL_CONN_CONTROL, "get [--progress[=bar|json]] [--no-progress] "
	  "[--quiet] REMOTE LOCAL|-", NULL,
	  "copy a server file here (or to stdout)" },
	{ "give", ctl_give, CTL_CONN_CONTROL, "give FD [--as N] -- CMD [ARGS...]", NULL,
	  "run a local command with a server fd" },
	{ "take", ctl_take, CTL_CONN_CONTROL,
	  "take LOCALPATH [--label L] [--rw]", NULL,
	  "open a local file and hand it to the server" },
	{ "attach", ctl_attach, CTL_CONN_CONTROL, "attach [--observe]", NULL,
	  "stay attached: an interactive session, or a script" },
	{ "shutdown", ctl_shutdown, CTL_CONN_CONTROL, "shutdown [--force]", NULL,
	  "stop the server" },
	{ "upgrade", ctl_upgrade, CTL_CONN_CONTROL,
	  "upgrade [--tetherd PATH] [--timeout MS]", NULL,
	  "replace tetherd's binary in place, losing nothing" },
	{ "respawn", ctl_respawn, CTL_CONN_CONTROL, "respawn LABEL|PID", NULL,
	  "start a dead worker again from its kept spec" },
	{ "dial-stdio", ctl_dial_stdio, CTL_CONN_NONE, "dial-stdio [-s SOCKET]",
	  NULL, "relay a remote controller's connection (ssh runs it)" },
	{ "help", ctl_help, CTL_CONN_NONE, "help [VERB]", NULL,
	  "list the verbs, or show one verb's usage" },
	{ NULL, NULL, CTL_CONN_NONE, NULL, NULL, NULL },
};

/* The i-th verb of the table, NULL past the end. */
const struct ctl_verb *ctl_verb_at(size_t i)
{
	return i < sizeof(ctl_verbs) / sizeof(ctl_verbs[0]) - 1 ? &ctl_verbs[i]
								 : NULL;
}

const struct ctl_verb *ctl_verb_find(const char *name)
{
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++)
		if (!strcmp(v->name, name))
			return v;
	return NULL;
}

/* Run verb argv[0] on t; print its usage when it says so. */
/* The one-shot verbs whose one request pays for a round trip of its
 * own: they connect with TETHER_CONNECT_PIPELINE, the request right
 * behind the HELLO (ctl_pipe_watch reports a refusal as the connect's).
 * Each checks its arguments without printing before its request: a
 * refusal must read as the connect's alone. */
bool ctl_verb_pipelined(const struct ctl_verb *v)
{
	static int (*const fns[])(struct ctl *, struct tether *, int,
				  char **) = {
		ctl_take, ctl_give, ctl_status, ctl_call, ctl_fds, ctl_label,
		ctl_unlabel, ctl_kill, ctl_ack,
	};

	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
		if (v->fn == fns[i])
			return true;
	return false;
}

/* The pipelined verbs whose request, at an upgrade, either was answered
 * or did not run: refused (cause "upgrade"), or -- a request the server
 * answers at once -- answered before the notice that ends the
 * connection.  A call is not among them: a syscall running at the drain
 * is let go with the notice, and may have done part of its work. */
bool ctl_verb_retried_at_upgrade(const struct ctl_verb *v)
{
	return ctl_verb_pipelined(v) && v->fn != ctl_call;
}

int ctl_verb_call(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const struct ctl_verb *v = ctl_verb_find(argv[0]);
	int rc;

	ctl_err_reset();
	if (!v) {
		ctl_err("unknown verb '%s'", argv[0]);
		rc = CTL_EX_USAGE;
	} else if (ctl_help_wanted(argc, argv)) {
		ctl_help_verb(stdout, v);
		return CTL_EX_OK;
	} else {
		rc = v->fn(g, t, argc, argv);
		/* ended by SIGINT: 130, in the JSON object too (attach
		 * says its own) */
		if (v->fn != ctl_attach && ctl_intr_taken())
			rc = CTL_EX_INTERRUPTED;
		/* a pipelined connect refused: the connect's failure */
		if (rc != CTL_EX_OK && ctl_pipe_refused())
			rc = ctl_pipe_refused();
		/* attach's status after a session is the status of its
		 * lines, which said their own usage */
		else if (rc == CTL_EX_USAGE &&
		    !(v->fn == ctl_attach && g->interactive)) {
			fprintf(stderr, "usage: tetherctl %s\n", v->usage);
			ctl_err_note("usage: tetherctl %s", v->usage);
		}
	}
	/* --json: every failure is one object on stdout (one run again
	 * is not one yet; an attach session's lines said their own) */
	if (g->json && !ctl_upgrading_refused() &&
	    !(v && v->fn == ctl_attach && g->interactive))
		ctl_err_json(stdout, rc);
	return rc;
}

void ctl_verbs_usage(FILE *f)
{
	for (const struct ctl_verb *v = ctl_verbs; v->name; v++)
		fprintf(f, "  %s\n", v->usage);
}
