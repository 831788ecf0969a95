/*
 * Requests answered later: WAIT (until a worker ends, or a timeout),
 * STOP (SIGTERM to the worker's group, SIGKILL after the grace period),
 * and LOGS (a stream of frames under the request's id, following new
 * output if asked).  They belong to the connection that asked: when it
 * goes, they go, and the worker is not affected.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tetherd.h"
#include "workers.h"

#define TD_TICK_MS 50
#define TD_LOGS_QUEUE (1u << 20)	/* outq bytes before LOGS pauses */

enum td_pkind { TD_P_WAIT, TD_P_STOP, TD_P_LOGS };

struct td_pending {
	struct td_pending *next;
	enum td_pkind kind;
	struct td_conn *conn;
	uint64_t id;
	struct td_worker *w;
	uint64_t deadline;		/* td_now_ms(), 0 for none */
	uint64_t offset;		/* LOGS */
	bool follow;			/* LOGS */
	bool dead;			/* answered or abandoned: reap it */
};

uint64_t td_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct td_pending *td_pending_add(struct td_req *r, enum td_pkind kind,
					 struct td_worker *w)
{
	struct td_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->kind = kind;
	p->conn = r->conn;
	p->id = r->id;
	p->w = w;
	p->next = r->srv->pendings;
	r->srv->pendings = p;
	return p;
}

/* Answered or abandoned.  Freed later, by td_pendings_reap() between
 * events: a reply can close its connection, and the loops that answer
 * pendings must not find their next one freed under them. */
static void td_pending_remove(struct td_server *srv, struct td_pending *p)
{
	(void)srv;
	p->dead = true;
	p->conn = NULL;
}

void td_pending_conn_closed(struct td_conn *c)
{
	for (struct td_pending *p = c->srv->pendings; p; p = p->next)
		if (p->conn == c)
			td_pending_remove(c->srv, p);
}

void td_pendings_reap(struct td_server *srv)
{
	struct td_pending **pp = &srv->pendings;

	while (*pp) {
		struct td_pending *p = *pp;

		if (p->dead) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
}

void td_pendings_free(struct td_server *srv)
{
	while (srv->pendings) {
		struct td_pending *p = srv->pendings;

		srv->pendings = p->next;
		free(p);
	}
}

/* The record is going away (ACK): nothing may point at it. */
void td_pending_worker_gone(struct td_server *srv, struct td_worker *w)
{
	for (struct td_pending *p = srv->pendings, *next; p; p = next) {
		struct tp_msg m;

		next = p->next;
		if (p->dead || p->w != w)
			continue;
		tp_msg_init(&m);
		if (tp_msg_error(&m, p->id, ESRCH, "worker record "
				 "acknowledged meanwhile") == 0 && p->conn)
			td_conn_queue(p->conn, &m);
		tp_msg_destroy(&m);
		td_pending_remove(srv, p);
	}
}

void td_tick_arm(struct td_server *srv)
{
	struct io_uring_sqe *sqe;

	if (srv->tick_armed || !(sqe = td_sqe(srv)))
		return;
	srv->tick_ts.tv_sec = 0;
	srv->tick_ts.tv_nsec = TD_TICK_MS * 1000000L;
	io_uring_prep_timeout(sqe, &srv->tick_ts, 0, 0);
	io_uring_sqe_set_data(sqe, &srv->ev_tick);
	srv->tick_armed = true;
}

static void td_pending_send(struct td_pending *p, struct tp_msg *m)
{
	if (p->conn && tp_msg_finish(m) == 0)
		td_conn_queue(p->conn, m);
	tp_msg_destroy(m);
}

/* ---- WAIT ---------------------------------------------------------------- */

static void td_wait_answer(struct td_pending *p, bool timeout)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, p->id, 0);
	td_worker_pack(&m.pk, p->w, 1);
	tp_pack_kv_bool(&m.pk, "timeout", timeout);
	td_pending_send(p, &m);
}

/* WAIT [target, timeout_ms]: timeout 0 asks now, -1 waits forever. */
int td_do_wait(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker *w;
	struct td_pending *p;
	int64_t timeout = -1;

	if (!b || nb < 1 || nb > 2 ||
	    (nb == 2 && tp_obj_i64(&b[1], &timeout) < 0))
		return td_req_fail(r, EPROTO, "WAIT body is [target, timeout_ms]");
	if (!(w = td_worker_find(r->srv, &b[0])))
		return td_req_fail(r, ESRCH, "no such worker");
	if (!(p = td_pending_add(r, TD_P_WAIT, w)))
		return td_req_fail(r, ENOMEM, "out of memory");
	if (td_worker_done(w) || timeout == 0) {
		td_wait_answer(p, !td_worker_done(w));
		td_pending_remove(r->srv, p);
		return TD_REPLY_LATER;
	}
	if (timeout > 0) {
		p->deadline = td_now_ms() + (uint64_t)timeout;
		td_tick_arm(r->srv);
	}
	return TD_REPLY_LATER;
}

/* ---- STOP ---------------------------------------------------------------- */

static bool td_group_alive(const struct td_worker *w)
{
	return w->pgid > 0 && kill(-w->pgid, 0) == 0;
}

static void td_stop_signal(struct td_worker *w, int sig)
{
	/* The group while it exists (daemonized children included),
	 * else the worker through its pidfd. */
	if (w->pgid > 0 && kill(-w->pgid, sig) == 0)
		return;
	if (w->pidfd >= 0)
		syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0);
}

static void td_stop_answer(struct td_pending *p)
{
	struct td_worker *w = p->w;
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, p->id, 0);
	td_worker_pack(&m.pk, w, 2);
	tp_pack_kv_bool(&m.pk, "sigkill", w->stop_killed);
	tp_pack_kv_int(&m.pk, "after_ms",
		       (int64_t)(td_now_ms() - w->stop_start));
	td_pending_send(p, &m);
}

/* STOP [target, grace_ms]. */
/* What STOP sends: SIGTERM, SIGCONT, and SIGKILL once the grace is
 * over. */
static const int td_stop_sigs[] = { SIGTERM, SIGCONT, SIGKILL };

int td_do_stop(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker *w;
	struct td_pending *p;
	int64_t grace = 10000;
	int rc;

	if (!b || nb < 1 || nb > 2 ||
	    (nb == 2 && (tp_obj_i64(&b[1], &grace) < 0 || grace < 0)))
		return td_req_fail(r, EPROTO, "STOP body is [target, grace_ms]");
	if (!(w = td_worker_find(r->srv, &b[0])))
		return td_req_fail(r, ESRCH, "no such worker");
	/* A policy must allow every signal STOP may send. */
	for (size_t i = 0; i < sizeof(td_stop_sigs) / sizeof(td_stop_sigs[0]);
	     i++)
		if ((rc = td_policy_check_op(r, "STOP", SYS_kill,
					     (uint64_t)-w->pgid,
					     (uint64_t)td_stop_sigs[i], 0,
					     0)) < 0)
			return rc;
	if (!(p = td_pending_add(r, TD_P_STOP, w)))
		return td_req_fail(r, ENOMEM, "out of memory");
	/* A leader gone with its group still there (no capture to keep
	 * the record open) still has a group to stop. */
	if (!w->stopping && (!td_worker_done(w) || td_group_alive(w))) {
		w->stopping = true;
		w->stop_killed = false;
		w->stop_start = td_now_ms();
		w->stop_deadline = w->stop_start + (uint64_t)grace;
		td_log("stopping worker %s pid %d (grace %lld ms)",
		       td_worker_name(w), (int)w->pid, (long long)grace);
		td_stop_signal(w, SIGTERM);
		/* A stopped process must run to see SIGTERM. */
		td_stop_signal(w, SIGCONT);
		td_tick_arm(r->srv);
	} else if (!w->stopping) {
		w->stop_start = td_now_ms();
		td_stop_answer(p);
		td_pending_remove(r->srv, p);
	}
	return TD_REPLY_LATER;
}

/* ---- LOGS ---------------------------------------------------------------- */

static void td_logs_frame(struct td_pending *p, const char *data, size_t n,
			  uint64_t offset, bool end)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, p->id, 0);
	msgpack_pack_map(&m.pk, 3);
	tp_pack_str(&m.pk, "data");
	msgpack_pack_bin(&m.pk, n);
	msgpack_pack_bin_body(&m.pk, data, n);
	tp_pack_kv_int(&m.pk, "offset", (int64_t)offset);
	tp_pack_kv_bool(&m.pk, "end", end);
	td_pending_send(p, &m);
}

/* Send what there is, as far as the peer keeps up.  True when this
 * stream is over (the pending must go). */
static bool td_logs_pump(struct td_pending *p)
{
	struct td_worker *w = p->w;
	static char buf[TETHER_LOG_CHUNK];
	ssize_t n;

	/* p->conn goes NULL if a frame's send closes the connection. */
	while (p->conn && !p->conn->closing &&
	       p->conn->out.len - p->conn->out.head < TD_LOGS_QUEUE) {
		n = td_capture_read(w->cap, &p->offset, buf, sizeof(buf));
		if (n < 0) {
			td_log("reading log of %s: %s", td_worker_name(w),
			       strerror((int)-n));
			td_logs_frame(p, "", 0, p->offset, true);
			return true;
		}
		if (n == 0) {
			if (p->follow && !td_worker_done(w))
				return false;
			td_logs_frame(p, "", 0, p->offset, true);
			return true;
		}
		td_logs_frame(p, buf, (size_t)n, p->offset, false);
		p->offset += (uint64_t)n;
	}
	return !p->conn || p->conn->closing;
}

/* LOGS [target, from, follow]. */
int td_do_logs(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_worker *w;
	struct td_pending *p;
	int64_t from = 0;

	if (!b || nb != 3 || tp_obj_i64(&b[1], &from) < 0 || from < 0 ||
	    b[2].type != MSGPACK_OBJECT_BOOLEAN)
		return td_req_fail(r, EPROTO, "LOGS body is [target, from, "
				   "follow]");
	if (!(w = td_worker_find(r->srv, &b[0])))
		return td_req_fail(r, ESRCH, "no such worker");
	if (!w->cap)
		return td_req_fail(r, ENODATA, "worker %s was not spawned with "
				   "capture", td_worker_name(w));
	if (!(p = td_pending_add(r, TD_P_LOGS, w)))
		return td_req_fail(r, ENOMEM, "out of memory");
	p->offset = (uint64_t)from;
	p->follow = b[2].via.boolean;
	if (td_logs_pump(p))
		td_pending_remove(r->srv, p);
	return TD_REPLY_LATER;
}

void td_logs_conn_drained(struct td_conn *c)
{
	for (struct td_pending *p = c->srv->pendings, *next; p; p = next) {
		next = p->next;
		if (!p->dead && p->conn == c && p->kind == TD_P_LOGS &&
		    td_logs_pump(p))
			td_pending_remove(c->srv, p);
	}
}

/* ---- events ---------------------------------------------------------------- */

/* Something about w changed: exited, output arrived or ended. */
void td_wait_worker_changed(struct td_server *srv, struct td_worker *w)
{
	bool done = td_worker_done(w);
	/* STOP is over when the whole group is, or SIGKILL went out. */
	bool stop_done = done && !(w->stopping && !w->stop_killed &&
				   td_group_alive(w));

	for (struct td_pending *p = srv->pendings, *next; p; p = next) {
		next = p->next;
		if (p->dead || p->w != w)
			continue;
		if (p->kind == TD_P_LOGS) {
			if (td_logs_pump(p))
				td_pending_remove(srv, p);
			continue;
		}
		if (p->kind == TD_P_WAIT && done)
			td_wait_answer(p, false);
		else if (p->kind == TD_P_STOP && stop_done)
			td_stop_answer(p);
		else
			continue;
		td_pending_remove(srv, p);
	}
	if (stop_done && w->stopping) {
		w->stopping = false;
		td_log("worker %s pid %d stopped%s", td_worker_name(w),
		       (int)w->pid, w->stop_killed ? " (SIGKILL)" : "");
	}
}

/* Shutting down: every running worker's group gets SIGTERM now and
 * SIGKILL when the grace runs out; the loop waits for them. */
void td_workers_stop_all(struct td_server *srv, uint64_t grace_ms)
{
	for (struct td_worker *w = srv->workers; w; w = w->next) {
		bool ended = w->state == TD_W_EXITED || w->state == TD_W_KILLED;

		if (w->stopping || (ended && !td_group_alive(w)))
			continue;
		w->stopping = true;
		w->stop_killed = false;
		w->stop_start = td_now_ms();
		w->stop_deadline = w->stop_start + grace_ms;
		td_stop_signal(w, SIGTERM);
		td_stop_signal(w, SIGCONT);
	}
	td_tick_arm(srv);
}

void td_tick(struct td_server *srv)
{
	uint64_t now = td_now_ms();
	bool again = false;

	srv->tick_armed = false;
	for (struct td_worker *w = srv->workers; w; w = w->next) {
		if (!w->stopping)
			continue;
		if (now >= w->stop_deadline && !w->stop_killed) {
			w->stop_killed = true;
			td_log("worker %s pid %d: grace over, SIGKILL",
			       td_worker_name(w), (int)w->pid);
			td_stop_signal(w, SIGKILL);
		}
		/* A group left behind by its leader ends without a
		 * SIGCHLD of the worker's own: look again. */
		td_wait_worker_changed(srv, w);
		again |= w->stopping;
	}
	again |= td_async_tick(srv, now);
	for (struct td_pending *p = srv->pendings, *next; p; p = next) {
		next = p->next;
		if (p->dead || p->kind != TD_P_WAIT || !p->deadline)
			continue;
		if (now >= p->deadline) {
			td_wait_answer(p, true);
			td_pending_remove(srv, p);
		} else {
			again = true;
		}
	}
	if (again)
		td_tick_arm(srv);
}
