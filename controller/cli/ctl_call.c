/*
 * call: one syscall by name, its arguments parsed and checked against
 * the syscall table before anything is sent.
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

/* ---- call ------------------------------------------------------------- */

/* call [--async] [--timeout S] [--detach-cancel] [--sync] [--raw] NAME
 * ARG...: options end at the syscall name, so negative numbers among
 * the arguments are left alone.  Returns the index of the name. */
static int ctl_call_opts(int argc, char **argv, struct tether_call *c,
			 bool *raw)
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
		} else if (!strcmp(argv[i], "--raw")) {
			/* today's output: arguments as typed, bytes */
			*raw = true;
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
	bool raw = false;
	int first;

	memset(cs, 0, sizeof(*cs));
	if ((first = ctl_call_opts(argc, argv, opts, &raw)) < 0 ||
	    first >= argc)
		return CTL_EX_USAGE;
	if (ctl_call_parse(argc - first, argv + first, cs, err,
			   sizeof(err)) < 0 ||
	    ctl_call_check(cs, err, sizeof(err)) < 0) {
		ctl_err("call: %s", err);
		ctl_callspec_free(cs);
		return CTL_EX_USAGE;
	}
	cs->raw = raw;
	return CTL_EX_OK;
}

/* Run by ctl_run before it connects: a call that cannot be meant is a
 * usage error whether or not a server listens, and disturbs none. */
int ctl_call_precheck(int argc, char **argv)
{
	struct ctl_callspec cs;
	struct tether_call opts = { 0 };
	int rc = ctl_call_prepare(argc, argv, &cs, &opts);

	ctl_callspec_free(&cs);
	return rc;
}

/* The kernel's convention: -4095..-1 are errors. */
static bool ctl_ret_failed(long ret)
{
	return ret < 0 && ret >= -4095;
}

/* A failed call's object under --json: the error object, and the call
 * object as a successful call prints it under "call" -- one line. */
static void ctl_call_failed_json(FILE *f, const struct ctl_callspec *cs,
				 int status)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (m) {
		ctl_call_print_json(m, cs);
		if (fclose(m))
			len = 0;
	}
	while (len && buf[len - 1] == '\n')
		len--;
	fputs("{\"error\":", f);
	ctl_err_json_body(f, status);
	if (len) {
		fputs(",\"call\":", f);
		fwrite(buf, 1, len, f);
	}
	fputs("}\n", f);
	free(buf);
	ctl_err_printed();
}

int ctl_call_report(struct ctl *g, const struct ctl_callspec *cs, int cause)
{
	long ret = cs->call.ret;
	int st = CTL_EX_OK;

	/* the syscall's own failure, or the server's timeout */
	if (ctl_ret_failed(ret))
		st = cause == TETHER_CAUSE_TIMEOUT ? CTL_EX_TIMEOUT
						   : CTL_EX_FAILED;
	/* text: the strace line says it all; --json: stderr says it too */
	if (st != CTL_EX_OK && g->json) {
		ctl_err_cause(st == CTL_EX_TIMEOUT ? TETHER_CAUSE_TIMEOUT
						   : TETHER_CAUSE_SYSCALL);
		ctl_err_errno((int)-ret, "%.*s: %s%s", (int)sizeof(cs->name),
			      cs->name, strerror((int)-ret),
			      st == CTL_EX_TIMEOUT ? " (--timeout ran out)"
						   : "");
		ctl_call_failed_json(stdout, cs, st);
	} else if (g->json) {
		ctl_call_print_json(stdout, cs);
	} else {
		ctl_call_print(stdout, cs);
	}
	return st;
}

int ctl_call(struct ctl *g, struct tether *t, int argc, char **argv)
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
		rc = ctl_call_report(g, &cs, tether_last_cause(t));
	}
	fflush(stdout);
	ctl_callspec_free(&cs);
	return rc;
}
