/*
 * The policy's user-space half: every call the controller asks for, and
 * every server op that does a syscall's work, is decided here before it
 * runs, naming the rule that refused.  The seccomp filter (filter.c)
 * stands behind it for whatever this misses.
 */
#include <stdint.h>
#include <stdio.h>

#include "policy/enforce.h"
#include "policy/policy.h"
#include "tetherd.h"

int td_policy_refuses(struct td_server *srv, long nr, const uint64_t a[6],
		      char *why, size_t size)
{
	const struct td_rule *rule;
	char text[320];
	int err;

#ifdef TD_TEST_UNCHECKED
	/* tests/tetherd-unchecked: only the kernel filter and the ring's
	 * restrictions stand between the controller and the call. */
	(void)srv; (void)nr; (void)a; (void)why; (void)size;
	(void)rule; (void)text; (void)err;
	return 0;
#else
	if (!srv->policy.loaded || nr < 0 || nr > INT32_MAX ||
	    td_policy_decide(srv->policy.loaded, (int)nr, a, &err, &rule))
		return 0;
	td_rule_format(srv->policy.loaded, rule, text, sizeof(text));
	if (rule)
		snprintf(why, size, "denied by policy %s line %u (%s)",
			 srv->policy.path, rule->line, text);
	else
		snprintf(why, size, "denied by policy %s (%s)",
			 srv->policy.path, text);
	td_log_at(LOG_NOTICE, "audit: pid %d: syscall %ld %s",
		  srv->conns.controller ? (int)srv->conns.controller->peer_pid : 0, nr, why);
	return -err;
#endif
}

int td_policy_check_op(struct td_req *r, const char *op, long nr,
		       uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t a[6] = { a0, a1, a2, a3, 0, 0 };
	char why[400];
	int rc;

	if ((rc = td_policy_refuses(r->srv, nr, a, why, sizeof(why))) < 0) {
		r->cause = TP_CAUSE_POLICY;
		return td_req_fail(r, -rc, "%s needs syscall %ld: %s", op, nr,
				   why);
	}
	return 0;
}
