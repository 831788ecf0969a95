/*
 * tetherctl submit [--wait] [--timeout S] FILE|-: the calls of a file
 * started side by side in one request (SUBMIT), where batch runs them
 * one after the other.  Without --wait it prints their ids and leaves
 * them running: a later tetherctl collects each.  With --wait it takes
 * their results many to a reply (REAP), in the order they complete.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "tether_proto.h"

/* An argument a submitted call cannot have: 0, or -EINVAL said. */
static int ctl_submit_check(const struct ctl_callspec *cs, char *err,
			    size_t errsz)
{
	for (unsigned i = 0; i < cs->call.nargs; i++) {
		const struct tether_arg *a = &cs->call.args[i];

		if (a->kind == TETHER_ARG_RESULT) {
			snprintf(err, errsz, "argument %u: $%llu: a submitted "
				 "call cannot take another's result (batch "
				 "can)", i + 1, (unsigned long long)a->value);
			return -EINVAL;
		}
		/* the data socket carries one call's buffers at a time */
		if ((a->kind == TETHER_ARG_IN || a->kind == TETHER_ARG_OUT ||
		     a->kind == TETHER_ARG_INOUT) &&
		    (a->size > TETHER_INLINE_MAX || a->cap > TETHER_INLINE_MAX)) {
			snprintf(err, errsz, "argument %u: a buffer over %u "
				 "KiB cannot be submitted (call can)", i + 1,
				 TETHER_INLINE_MAX >> 10);
			return -EINVAL;
		}
	}
	return 0;
}

/* A call that is still out, as submit without --wait prints each. */
static void ctl_submit_print_id(struct ctl *g, size_t entry,
				const struct ctl_callspec *cs, bool waited)
{
	unsigned long long id = (unsigned long long)cs->call.async_id;

	if (g->json)
		printf("{\"entry\":%zu,\"id\":%llu,\"syscall\":\"%s\","
		       "\"state\":\"running\"}\n", entry, id, cs->name);
	else if (waited)
		printf("[entry %zu] %s: still running as request %llu\n",
		       entry, cs->name, id);
	else
		printf("%llu\n", id);
}

/* A completed call, as call prints one, with its entry and id. */
static void ctl_submit_print_done(struct ctl *g, size_t entry,
				  const struct ctl_callspec *cs)
{
	char lead[64];

	if (g->json) {
		snprintf(lead, sizeof(lead), "\"entry\":%zu,\"id\":%llu,",
			 entry, (unsigned long long)cs->call.async_id);
		ctl_call_print_json_lead(stdout, cs, lead);
	} else {
		printf("[entry %zu] ", entry);
		ctl_call_print(stdout, cs);
	}
}

/* Milliseconds until end (ctl_now()'s clock), 0 once it is past. */
static long ctl_submit_left_ms(double end)
{
	double left = end - ctl_now();

	return left > 0 ? (long)(left * 1000.0) : 0;
}

/* Ctrl-C while waiting: what this verb started and still runs is
 * cancelled and its completions taken, so none is parked for a collect
 * nobody makes (as call does with its own). */
static void ctl_submit_abandon(struct tether *t, struct ctl_calls *b,
			       struct tether_call *calls, const bool *done,
			       struct tether_call **got)
{
	size_t out = 0;

	ctl_intr_clear();
	for (size_t i = 0; i < b->n; i++)
		if (!done[i] && tether_cancel(t, calls[i].async_id) == 0)
			out++;
	while (tether_submitted(t) > 0 &&
	       tether_reap(t, got, TETHER_SUBMIT_MAX, tether_submitted(t),
			   2000) > 0)
		;
	ctl_err("submit: interrupted; %zu %s cancelled", out,
		out == 1 ? "call" : "calls");
}

/* Reap until every call is in or the time is up; each printed as it
 * comes.  The verb's exit status. */
static int ctl_submit_wait(struct ctl *g, struct tether *t,
			   struct ctl_calls *b, struct tether_call *calls,
			   long timeout_ms)
{
	struct tether_call **got = calloc(TETHER_SUBMIT_MAX, sizeof(*got));
	bool *done = calloc(b->n, sizeof(*done));
	double end = ctl_now() + (double)timeout_ms / 1000.0;
	size_t left = b->n;
	int status = CTL_EX_OK, n;

	if (!got || !done) {
		free(got);
		free(done);
		ctl_err("submit: out of memory");
		return CTL_EX_FAILED;
	}
	while (left) {
		long wait = timeout_ms < 0 ? -1 : ctl_submit_left_ms(end);

		n = tether_reap(t, got, TETHER_SUBMIT_MAX, 1, wait);
		if (n == -EINTR) {
			ctl_submit_abandon(t, b, calls, done, got);
			status = CTL_EX_INTERRUPTED;
			break;
		}
		if (n < 0) {
			ctl_err("submit: %s", ctl_why(t, n));
			status = ctl_status_of(n);
			break;
		}
		for (int k = 0; k < n; k++) {
			size_t i = (size_t)(got[k] - calls);

			done[i] = true;
			left--;
			b->cs[i].call = calls[i];
			ctl_submit_print_done(g, i, &b->cs[i]);
			if (calls[i].ret < 0 && status == CTL_EX_OK) {
				if (g->json) {
					/* the error object after the results
					 * names the first that failed */
					ctl_err_cause(TETHER_CAUSE_SYSCALL);
					ctl_err_errno((int)-calls[i].ret,
						      "submit: entry %zu (%s): "
						      "%s", i, b->cs[i].name,
						      strerror((int)
							       -calls[i].ret));
				}
				status = CTL_EX_FAILED;
			}
		}
		fflush(stdout);
		if (n == 0 && timeout_ms < 0) {
			/* REAP answers at once when nothing is out: the
			 * server no longer holds what we wait for. */
			ctl_err("submit: the server has none of the %zu calls "
				"still waited for", left);
			status = CTL_EX_FAILED;
			break;
		}
		if (n == 0 && timeout_ms >= 0 && !ctl_submit_left_ms(end)) {
			/* The rest run on: ids to collect them by. */
			for (size_t i = 0; i < b->n; i++)
				if (!done[i])
					ctl_submit_print_id(g, i, &b->cs[i],
							    true);
			ctl_err("submit: --timeout ran out with %zu of %zu "
				"calls running", left, b->n);
			status = CTL_EX_TIMEOUT;
			break;
		}
	}
	free(got);
	free(done);
	return status;
}

int ctl_submit(struct ctl *g, struct tether *t, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "wait", no_argument, NULL, 'w' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_calls b = { .check = ctl_submit_check };
	struct tether_call *calls;
	long timeout_ms = -1;
	bool wait = false;
	double secs;
	char *end;
	int c, rc;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+wt:", opts, NULL)) != -1) {
		if (c == 'w') {
			wait = true;
		} else if (c == 't') {
			secs = strtod(optarg, &end);
			if (*end || !(secs >= 0) || secs > 86400.0 * 365)
				return CTL_EX_USAGE;
			timeout_ms = (long)(secs * 1000.0);
			wait = true;
		} else {
			return CTL_EX_USAGE;
		}
	}
	if (optind != argc - 1)
		return CTL_EX_USAGE;
	if ((rc = ctl_calls_read(&b, "submit", argv[optind])) != CTL_EX_OK)
		return rc;
	if (b.n > TETHER_SUBMIT_MAX) {
		ctl_err("submit: %zu calls; at most %u", b.n,
			TETHER_SUBMIT_MAX);
		ctl_calls_free(&b);
		return CTL_EX_USAGE;
	}
	if (!(calls = ctl_calls_array(&b))) {
		ctl_calls_free(&b);
		return CTL_EX_FAILED;
	}
	if ((rc = tether_submit_many(t, calls, b.n, 0)) < 0) {
		ctl_err("submit: %s", ctl_why(t, rc));
		rc = ctl_status_of(rc);
		goto out;
	}
	for (size_t i = 0; i < b.n; i++)
		b.cs[i].call.async_id = calls[i].async_id;
	if (wait) {
		rc = ctl_submit_wait(g, t, &b, calls, timeout_ms);
	} else {
		for (size_t i = 0; i < b.n; i++)
			ctl_submit_print_id(g, i, &b.cs[i], false);
		rc = CTL_EX_OK;
	}
out:
	fflush(stdout);
	free(calls);
	ctl_calls_free(&b);
	return rc;
}
