/*
 * Request dispatch: one handler per op, from a table.  A handler packs
 * its success body through r->w or returns td_req_fail(); the frame
 * that carries either is built here, and a body that could not be
 * packed whole is answered as the error it is.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "deferred/pool.h"
#include "tetherd.h"

static int td_do_hello(struct td_req *r)
{
	return td_req_fail(r, EPROTO,
			   "HELLO belongs on the listening socket, with fds");
}

static int td_do_persist(struct td_req *r)
{
	struct tp_persist_reply rep = { .persistent = true };
	int rc = td_persist(r->srv);

	if (rc < 0)
		return td_req_fail(r, -rc, "make persistent: %s",
				   strerror(-rc));
	rep.sid = getsid(0);
	return tp_pack_persist_reply(r->w, &rep);
}

static int td_do_status(struct td_req *r)
{
	struct td_server *srv = r->srv;
	struct td_conn *ctl = srv->conns.controller;
	struct tp_status st = {
		.has = TP_STATUS_ATTACHED | TP_STATUS_CONTROLLER_PID |
		       TP_STATUS_CONTROLLER_SINCE | TP_STATUS_NOBSERVERS |
		       TP_STATUS_SOCKET | TP_STATUS_HELPERS |
		       TP_STATUS_HELPERS_BUSY | TP_STATUS_HELPERS_SYSCALLS |
		       TP_STATUS_JOBS,
	};
	unsigned helpers, busy, syscalls;
	struct rlimit nofile;

	td_status_common(srv, &st);
	td_pool_counts(srv, &helpers, &busy, &syscalls);
	st.attached = ctl != NULL;
	st.controller_pid = ctl ? ctl->peer_pid : 0;
	st.controller_since = ctl ? ctl->since : 0;
	st.nobservers = srv->conns.nobservers;
	st.observer = r->conn->observer;
	st.socket = tp_str(srv->socket_path);
	/* What the loop handed off: helper threads in use, of them by a
	 * controller's syscalls, and requests answered later. */
	st.helpers = helpers;
	st.helpers_busy = busy;
	st.helpers_syscalls = syscalls;
	st.jobs = srv->deferred.njobs;
	st.binary = tp_str(srv->upgrade.binary);
	st.upgrades = srv->upgrade.count;
	st.upgrade_error = tp_str(srv->upgrade.error);
	st.upgrade_failures = srv->upgrade.failures;
	st.has |= TP_STATUS_BINARY | TP_STATUS_UPGRADES |
		  TP_STATUS_UPGRADE_FAILURES |
		  (srv->upgrade.error[0] ? TP_STATUS_UPGRADE_ERROR : 0);
	/* How near the table is to full, and what is kept for the
	 * controller that comes to clean it (fds/spare.c).  Infinity is
	 * said as -1. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		st.fd_limit = nofile.rlim_cur == RLIM_INFINITY
				      ? -1 : (int64_t)nofile.rlim_cur;
		st.fd_limit_max = nofile.rlim_max == RLIM_INFINITY
					  ? -1 : (int64_t)nofile.rlim_max;
		st.has |= TP_STATUS_FD_LIMIT | TP_STATUS_FD_LIMIT_MAX;
	}
	st.spare_fds = td_spare_count();
	st.has |= TP_STATUS_SPARE_FDS;
	return tp_pack_status(r->w, &st);
}

/* SHUTDOWN [] or [force]: running workers are stopped only if forced. */
static int td_do_shutdown(struct td_req *r)
{
	struct tp_shutdown req;
	static const struct tp_empty none;
	bool force;

	/* Lax: any other body is a SHUTDOWN that is not forced. */
	tp_unpack_shutdown(r->body, &req, NULL);
	force = (req.has & TP_SHUTDOWN_FORCE) && req.force;
	if (r->srv->workers.nrunning && !force)
		return td_req_fail(r, EBUSY, "%u workers running: stop them, "
				   "or force (they get SIGTERM, then SIGKILL)",
				   r->srv->workers.nrunning);
	td_log("shutdown requested by pid %d", (int)r->conn->peer_pid);
	kill(getpid(), SIGTERM);	/* handled by the loop, in order */
	return tp_pack_shutdown_reply(r->w, &none);
}

struct td_op {
	const char *name;
	int (*fn)(struct td_req *r);
	bool readonly;			/* allowed on observer connections */
};

static const struct td_op td_ops[TETHER_OP_MAX_] = {
	[TETHER_OP_HELLO] = { "HELLO", td_do_hello, true },
	[TETHER_OP_SYSCALL] = { "SYSCALL", td_do_syscall, false },
	[TETHER_OP_PERSIST] = { "PERSIST", td_do_persist, false },
	[TETHER_OP_STATUS] = { "STATUS", td_do_status, true },
	[TETHER_OP_SHUTDOWN] = { "SHUTDOWN", td_do_shutdown, false },
	[TETHER_OP_LIST_FDS] = { "LIST_FDS", td_do_list_fds, true },
	[TETHER_OP_LABEL] = { "LABEL", td_do_label, false },
	[TETHER_OP_UNLABEL] = { "UNLABEL", td_do_unlabel, false },
	[TETHER_OP_GC] = { "GC", td_do_gc, false },
	[TETHER_OP_SPAWN] = { "SPAWN", td_do_spawn, false },
	[TETHER_OP_PS] = { "PS", td_do_ps, true },
	[TETHER_OP_WAIT] = { "WAIT", td_do_wait, true },
	[TETHER_OP_KILL] = { "KILL", td_do_kill, false },
	[TETHER_OP_STOP] = { "STOP", td_do_stop, false },
	[TETHER_OP_LOGS] = { "LOGS", td_do_logs, true },
	[TETHER_OP_ACK] = { "ACK", td_do_ack, false },
	[TETHER_OP_PENDING] = { "PENDING", td_do_pending, true },
	[TETHER_OP_COLLECT] = { "COLLECT", td_do_collect, false },
	[TETHER_OP_CANCEL] = { "CANCEL", td_do_cancel, false },
	[TETHER_OP_BATCH] = { "BATCH", td_do_batch, false },
	[TETHER_OP_GET] = { "GET", td_do_get, false },
	[TETHER_OP_PUT] = { "PUT", td_do_put, false },
	[TETHER_OP_GIVE] = { "GIVE", td_do_give, false },
	[TETHER_OP_TAKE] = { "TAKE", td_do_take, false },
	[TETHER_OP_MEM_ALLOC] = { "MEM_ALLOC", td_do_mem_alloc, false },
	[TETHER_OP_MEM_FREE] = { "MEM_FREE", td_do_mem_free, false },
	[TETHER_OP_MEM_LIST] = { "MEM_LIST", td_do_mem_list, true },
	[TETHER_OP_MEM_WRITE] = { "MEM_WRITE", td_do_mem_write, false },
	[TETHER_OP_MEM_READ] = { "MEM_READ", td_do_mem_read, false },
	[TETHER_OP_POLICY] = { "POLICY", td_do_policy, true },
	[TETHER_OP_RESPAWN] = { "RESPAWN", td_do_respawn, false },
	[TETHER_OP_SUBMIT] = { "SUBMIT", td_do_submit, false },
	[TETHER_OP_REAP] = { "REAP", td_do_reap, false },
	[TETHER_OP_UPGRADE] = { "UPGRADE", td_do_upgrade, false },
};

static const struct td_op *td_op_find(int64_t op)
{
	if (op <= 0 || op >= TETHER_OP_MAX_ || !td_ops[op].fn)
		return NULL;
	return &td_ops[op];
}

/* Whether the server refuses a request as it does while draining for
 * an upgrade.  The unchecked test build can be told to refuse the first
 * $TETHERD_TEST_REFUSE_UPGRADING requests so (STATUS too: an upgrade
 * can end a STATUS with its notice): how a client that tries again is
 * shown without racing a real drain. */
static bool td_refused_upgrading(const struct td_server *srv, int64_t code)
{
#ifdef TD_TEST_UNCHECKED
	static long left = -1;

	if (left < 0) {
		const char *v = getenv("TETHERD_TEST_REFUSE_UPGRADING");

		left = v && *v ? strtol(v, NULL, 10) : 0;
	}
	if (left > 0) {
		left--;
		return true;
	}
#endif
	return srv->upgrade.draining && code != TETHER_OP_STATUS;
}

static void td_dispatch_op(struct td_conn *c, const struct tp_in *in,
			   struct tp_msg *m)
{
	const struct td_op *op = td_op_find(in->code);
	struct td_req r = { .conn = c, .srv = c->srv, .id = in->id,
			    .body = in->body, .w = &m->w };
	struct td_conn *ctl = c->srv->conns.controller;
	int rc;

	if (!op) {
		tp_msg_error(m, in->id, EOPNOTSUPP, "unknown op %lld",
			     (long long)in->code);
		return;
	}
	if (c->observer && !op->readonly) {
		tp_msg_error_cause(m, in->id, EBUSY,
			     c->causes ? TP_CAUSE_ROLE : NULL,
			     "%s refused: read-only observer connection "
			     "(%s%.0d)", op->name,
			     ctl ? "the controller is pid "
				 : "no controller attached",
			     ctl ? (int)ctl->peer_pid : 0);
		return;
	}
	/* Draining for an exec: nothing new may start (STATUS may). */
	if (td_refused_upgrading(c->srv, in->code)) {
		tp_msg_error_cause(m, in->id, EAGAIN,
				   c->causes ? TP_CAUSE_UPGRADE : NULL,
				   "tetherd is upgrading: reconnect in a "
				   "moment");
		return;
	}
	tp_msg_reply(m, in->id, 0);
	rc = op->fn(&r);
	if (rc == TD_REPLY_LATER) {
		tp_msg_destroy(m);
		tp_msg_init(m);
		return;
	}
	if (rc == 0 && (rc = tp_msg_finish(m)) == 0)
		return;
	if (rc == -EMSGSIZE && !r.err[0])
		snprintf(r.err, sizeof(r.err), "reply exceeds %u bytes",
			 TETHER_FRAME_MAX);
	tp_msg_destroy(m);
	tp_msg_init(m);
	tp_msg_error_cause(m, in->id, -rc, c->causes ? r.cause : NULL, "%s",
			   r.err[0] ? r.err : strerror(-rc));
}

void td_dispatch(struct td_conn *c, const unsigned char *payload, size_t len)
{
	struct tp_in in;
	struct tp_msg m;
	int rc = tp_decode(payload, len, &in);

	if (rc == -EBADMSG) {
		tp_in_destroy(&in);
		td_log("pid %d sent a frame that is not msgpack; dropping it",
		       (int)c->peer_pid);
		td_conn_close(c, "unparseable frame");
		return;
	}
	tp_msg_init(&m);
	if (rc < 0)
		tp_msg_error(&m, in.have_id ? in.id : 0, EPROTO,
			     "malformed request: expected [id, op, body]");
	else
		td_dispatch_op(c, &in, &m);
	/* Empty: the reply comes later. */
	if (tp_msg_size(&m) > TETHER_FRAME_HDR)
		td_conn_queue(c, &m);
	tp_msg_destroy(&m);
	tp_in_destroy(&in);
}
