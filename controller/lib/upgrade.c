/*
 * tether_upgrade: have tetherd exec a new binary in its own process (the
 * UPGRADE op), then attach to what comes back and check that it is the
 * same process, upgraded.  The server closes our connection before its
 * exec: the handle is attached again in place, keeping what is the
 * caller's (the fds it holds, its interrupt fd).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libtether.h"

static int tl_pack_upgrade(struct tp_w *w, const void *arg)
{
	const char *binary = arg;
	struct tp_upgrade req = { 0 };

	if (binary) {
		req.has = TP_UPGRADE_BINARY;
		req.binary = tp_str(binary);
	}
	return tp_pack_upgrade(w, &req);
}

/* The server closes our syscall socket once the answer is out. */
static void tl_wait_closed(struct tether *t, int64_t deadline)
{
	char buf[4096];

	for (;;) {
		struct pollfd p = { .fd = t->sfd, .events = POLLIN };
		int64_t left = deadline - tl_now_ms();

		if (left <= 0 || poll(&p, 1, (int)(left > 1000 ? 1000 : left)) < 0)
			return;
		if (p.revents && read(t->sfd, buf, sizeof(buf)) <= 0)
			return;
	}
}

/* t takes nt's connection; nt goes. */
static void tl_handle_move(struct tether *t, struct tether *nt)
{
	if (t->sfd >= 0)
		close(t->sfd);
	if (t->dfd >= 0)
		close(t->dfd);
	tp_rbuf_free(&t->in);
	t->sfd = nt->sfd;
	t->dfd = nt->dfd;
	t->in = nt->in;
	t->consumed_pending = nt->consumed_pending;
	t->next_id = nt->next_id;
	t->info = nt->info;
	t->causes = nt->causes;
	t->taken = false;
	nt->sfd = nt->dfd = -1;
	memset(&nt->in, 0, sizeof(nt->in));
	tl_free(nt);
}

TETHER_API int tether_upgrade(struct tether *t, const char *socket_path,
			      unsigned flags, const char *binary,
			      int64_t timeout_ms,
			      struct tether_upgrade_result *res)
{
	struct tether_upgrade_result r = { .struct_size = sizeof(r) };
	/* STATUS before and after: the upgrade count, the failures, why */
	struct tl_status_both before, after;
	const struct tether_status_ex *bx = &before.x, *ax = &after.x;
	struct tether *nt = NULL;
	int64_t deadline;
	int rc;

	/* What res holds: struct_size (0, the 1.2 layout, is this one),
	 * not sizeof ours -- a caller built before a field was added has
	 * no room for it. */
	if ((rc = tl_opts_out_size(t, res, sizeof(r), 4096,
				   "tether_upgrade_result",
				   &r.struct_size)) < 0)
		return rc;
	if (timeout_ms <= 0)
		timeout_ms = 30000;
	deadline = tl_now_ms() + timeout_ms;
	if ((rc = tl_status_both(t, &before)) < 0)
		return rc;
	if (bx->upgrades < 0)
		return tl_fail(t, ENOTSUP, "tetherd %s cannot upgrade itself",
			       bx->server_version[0] ? bx->server_version
						     : "(old)");
	r.pid = before.st.pid;
	snprintf(r.from_version, sizeof(r.from_version), "%s",
		 bx->server_version);
	if ((rc = tl_request(t, TETHER_OP_UPGRADE, tl_pack_upgrade, binary,
			     NULL, NULL)) < 0)
		return rc;
	tl_wait_closed(t, deadline);
	/* The new binary serves once it has resumed; until then the
	 * socket's backlog holds us, or the old one still drains. */
	for (;;) {
		rc = tether_connect(socket_path, flags, &nt);
		if (rc == 0) {
			rc = tl_status_both(nt, &after);
			if (rc == 0 && ax->upgrades != bx->upgrades)
				break;
			/* It failed, and says why: counted, or (a server
			 * that does not count) with another reason than
			 * the last time. */
			if (rc == 0 && ax->upgrade_error[0] &&
			    (ax->upgrade_failures >= 0
				     ? ax->upgrade_failures !=
					       bx->upgrade_failures
				     : strcmp(ax->upgrade_error,
					      bx->upgrade_error) != 0))
				break;
			tether_disconnect(nt);
			nt = NULL;
		}
		if (tl_now_ms() >= deadline)
			return tl_fail(t, ETIMEDOUT, "the upgraded tetherd did "
				       "not answer within %lld ms",
				       (long long)timeout_ms);
		usleep(20000);
	}
	tl_handle_move(t, nt);
	r.upgrades = (unsigned)ax->upgrades;
	snprintf(r.to_version, sizeof(r.to_version), "%s",
		 ax->server_version);
	snprintf(r.error, sizeof(r.error), "%s", ax->upgrade_error);
	if (res)
		tl_opts_out(res, &r, sizeof(r));
	if (after.st.pid != before.st.pid)
		return tl_fail(t, ESRCH, "tetherd's pid changed (%d, now %d): "
			       "another server took the socket",
			       (int)before.st.pid, (int)after.st.pid);
	if (ax->upgrades == bx->upgrades)
		return tl_fail(t, ENOEXEC, "upgrade failed: %s",
			       ax->upgrade_error);
	return 0;
}
