/*
 * The policy on the server itself: loaded at start, enforced twice -- by
 * the user-space check here (naming the rule that refused) and by the
 * seccomp filter and ring restrictions filter.c installs.
 */
#ifndef TETHERD_ENFORCE_H
#define TETHERD_ENFORCE_H

#include <stddef.h>
#include <stdint.h>

struct td_server;
struct td_req;
struct td_policy;

/* The module's state in the server. */
struct td_policy_state {
	struct td_policy *loaded;	/* --policy, or NULL: anything goes */
	const char *path;
};

/* filter.c */
int td_policy_setup(struct td_server *srv, char *err, size_t errsz);
int td_filter_install(struct td_server *srv, char *err, size_t errsz);
int td_do_policy(struct td_req *r);

/* check.c: the user-space half.  0, or -errno with why[] saying which
 * rule refused (and an audit line logged).  nr, args: the call as it
 * would run. */
int td_policy_refuses(struct td_server *srv, long nr, const uint64_t a[6],
		      char *why, size_t size);
/* The same for a server op that does a syscall's work (GET opens a
 * file, KILL sends a signal): 0 or td_req_fail()'s -errno. */
int td_policy_check_op(struct td_req *r, const char *op, long nr,
		       uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);

#endif
