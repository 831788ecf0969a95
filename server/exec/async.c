/*
 * Syscalls answered later.  What may block runs as a ring submission
 * when io_uring has the operation (reads and writes of pipes and
 * sockets, accept, connect, openat, poll of one fd, sleeps, fsync ...),
 * and on a helper thread when it has not (flock, futex, epoll_wait ...).
 * Either way it is a call job: its answer goes to whoever waits -- the
 * submitter, or a COLLECT -- or, with nobody waiting (the controller
 * detached, or asked ASYNC), it is parked for the next controller within
 * a memory budget.  PENDING, COLLECT and CANCEL live here too.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "async.h"
#include "data/data.h"
#include "deferred/pool.h"

/* ---- the ring ----------------------------------------------------------- */

/* Map c onto an SQE (sqe NULL: only ask whether it maps). */
static bool td_ring_map(struct td_call *c, struct io_uring_sqe *sqe,
			struct td_calljob *cj)
{
	uint64_t a[TETHER_NARGS_MAX];
	struct pollfd pfd;

	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		a[i] = c->a[i].reg;
#define FD(i) ((int)a[i])
#define PTR(i) ((void *)(uintptr_t)a[i])
	switch (c->nr) {
	case SYS_read:
	case SYS_pread64:
		if (sqe)
			io_uring_prep_read(sqe, FD(0), PTR(1), (unsigned)a[2],
					   c->nr == SYS_read ? (uint64_t)-1 : a[3]);
		return true;
	case SYS_write:
	case SYS_pwrite64:
		if (sqe)
			io_uring_prep_write(sqe, FD(0), PTR(1), (unsigned)a[2],
					    c->nr == SYS_write ? (uint64_t)-1 : a[3]);
		return true;
	case SYS_readv:
	case SYS_preadv:
		if (sqe)
			io_uring_prep_readv(sqe, FD(0), PTR(1), (unsigned)a[2],
					    c->nr == SYS_readv ? (uint64_t)-1 : a[3]);
		return true;
	case SYS_writev:
	case SYS_pwritev:
		if (sqe)
			io_uring_prep_writev(sqe, FD(0), PTR(1), (unsigned)a[2],
					     c->nr == SYS_writev ? (uint64_t)-1 : a[3]);
		return true;
	case SYS_recvfrom:
		if (a[4] || a[5])
			return false;	/* with an address: not a recv */
		if (sqe)
			io_uring_prep_recv(sqe, FD(0), PTR(1), a[2], (int)a[3]);
		return true;
	case SYS_sendto:
		if (a[4])
			return false;
		if (sqe)
			io_uring_prep_send(sqe, FD(0), PTR(1), a[2], (int)a[3]);
		return true;
	case SYS_recvmsg:
		if (sqe)
			io_uring_prep_recvmsg(sqe, FD(0), PTR(1), (unsigned)a[2]);
		return true;
	case SYS_sendmsg:
		if (sqe)
			io_uring_prep_sendmsg(sqe, FD(0), PTR(1), (unsigned)a[2]);
		return true;
	case SYS_accept:
	case SYS_accept4:
		if (sqe)
			io_uring_prep_accept(sqe, FD(0), PTR(1), PTR(2),
					     c->nr == SYS_accept ? 0 : (int)a[3]);
		return true;
	case SYS_connect:
		if (sqe)
			io_uring_prep_connect(sqe, FD(0), PTR(1),
					      (socklen_t)a[2]);
		return true;
	/* Not openat: the ring tries every open first with O_NONBLOCK
	 * added, so a FIFO would open at once for reading and fail with
	 * ENXIO for writing, where open(2) waits for the other end.  It
	 * goes to a helper, which waits as open(2) does. */
	case SYS_close:
		if (sqe)
			io_uring_prep_close(sqe, FD(0));
		return true;
	case SYS_statx:
		if (sqe)
			io_uring_prep_statx(sqe, FD(0), PTR(1), (int)a[2],
					    (unsigned)a[3], PTR(4));
		return true;
	case SYS_fsync:
	case SYS_fdatasync:
		if (sqe)
			io_uring_prep_fsync(sqe, FD(0), c->nr == SYS_fsync
						   ? 0 : IORING_FSYNC_DATASYNC);
		return true;
	case SYS_splice:
		if (a[1] || a[3])
			return false;	/* offsets by pointer */
		if (sqe)
			io_uring_prep_splice(sqe, FD(0), -1, FD(2), -1,
					     (unsigned)a[4], (unsigned)a[5]);
		return true;
	case SYS_tee:
		if (sqe)
			io_uring_prep_tee(sqe, FD(0), FD(1), (unsigned)a[2],
					  (unsigned)a[3]);
		return true;
	case SYS_shutdown:
		if (sqe)
			io_uring_prep_shutdown(sqe, FD(0), (int)a[1]);
		return true;
	case SYS_nanosleep:
		/* The request must be a timespec we hold. */
		if (c->a[0].kind != TD_ARG_IN ||
		    c->a[0].size != sizeof(struct timespec))
			return false;
		if (sqe) {
			memcpy(&cj->sleep, c->a[0].b.p, sizeof(cj->sleep));
			io_uring_prep_timeout(sqe, &cj->sleep, 0, 0);
		}
		return true;
	case SYS_poll:
		/* One pollfd we hold: a poll of one fd.  With a timeout of 0
		 * it never waits: direct. */
		if (a[1] != 1 || (int)a[2] == 0 ||
		    (c->a[0].kind != TD_ARG_INOUT &&
				  c->a[0].kind != TD_ARG_IN) ||
		    c->a[0].size < sizeof(pfd))
			return false;
		if (sqe) {
			memcpy(&pfd, c->a[0].b.p, sizeof(pfd));
			io_uring_prep_poll_add(sqe, pfd.fd, (unsigned)pfd.events);
		}
		return true;
	default:
		return false;
	}
#undef FD
#undef PTR
}

bool td_ring_takes(const struct td_call *c)
{
	return td_ring_map((struct td_call *)c, NULL, NULL);
}

/* The job's deadline: the request's timeout, or poll(2)'s own through
 * the ring (which knows no poll timeout of its own). */
static void td_call_arm_deadline(struct td_calljob *cj, bool ring)
{
	struct td_call *c = cj->call;
	uint64_t ms = c->timeout_ms;
	int poll_ms;

	cj->poll_expired = false;
	cj->job.timed_out = false;
	if (ring && c->nr == SYS_poll && (poll_ms = (int)c->a[2].reg) >= 0 &&
	    (!ms || (uint64_t)poll_ms < ms)) {
		ms = (uint64_t)poll_ms;
		cj->poll_expired = true;	/* if this deadline fires */
	}
	if (ms)
		td_timer_in(cj->job.srv, &cj->job.timer, ms);
	else
		td_timer_stop(cj->job.srv, &cj->job.timer);
}

static int td_ring_submit(struct td_calljob *cj)
{
	struct io_uring_sqe *sqe = td_sqe(cj->job.srv);

	if (!sqe)
		return -EAGAIN;
	td_ring_map(cj->call, sqe, cj);
	td_job_in_ring(&cj->job, sqe);
	cj->placed = TD_RUN_RING;
	td_call_arm_deadline(cj, true);
	return 0;
}

/* What the syscall itself would have returned. */
static long td_ring_result(struct td_calljob *cj, int res)
{
	struct td_call *c = cj->call;
	bool mine = cj->job.timed_out && !cj->poll_expired;

	switch (c->nr) {
	case SYS_nanosleep:
		if (res == -ETIME)
			return 0;
		if (res != -ECANCELED)
			return res;
		return mine ? -ETIMEDOUT : cj->job.timed_out ? 0 : -ECANCELED;
	case SYS_poll:
		if (res >= 0) {
			struct pollfd pfd;

			memcpy(&pfd, c->a[0].b.p, sizeof(pfd));
			pfd.revents = (short)res;
			memcpy(c->a[0].b.p, &pfd, sizeof(pfd));
			return 1;
		}
		if (res == -ECANCELED && cj->job.timed_out)
			return cj->poll_expired ? 0 : -ETIMEDOUT;
		return res;
	default:
		if ((res == -ECANCELED || res == -EINTR) && cj->job.timed_out)
			return -ETIMEDOUT;
		return res;
	}
}

/* What a helper's syscall returns once we interrupted it. */
static long td_helper_result(struct td_calljob *cj, int res)
{
	long ret = res == -ECANCELED ? -ECANCELED : cj->call->ret;

	if (ret == -EINTR && cj->job.timed_out)
		return -ETIMEDOUT;
	if (ret == -EINTR && cj->job.cancelled)
		return -ECANCELED;
	return ret;
}

/* ---- the call job --------------------------------------------------------- */

static void td_calljob_work(struct td_job *j)
{
	struct td_calljob *cj = (struct td_calljob *)j;

	cj->call->ret = td_call_raw(cj->call);
}

int td_calljob_place(struct td_calljob *cj)
{
	struct td_call *c = cj->call;
	int rc;

	switch (td_call_route(c)) {
	case TD_RUN_RING:
		if ((rc = td_ring_submit(cj)) >= 0)
			td_fds_call_placed(c->nr);
		return rc;
	case TD_RUN_HELPER:
		cj->job.cls = TD_JOB_SYSCALL;
		if ((rc = td_job_to_helper(&cj->job)) < 0)
			return rc;
		td_fds_call_placed(c->nr);
		cj->placed = TD_RUN_HELPER;
		td_call_arm_deadline(cj, false);
		return 0;
	default:
		c->ret = td_call_run(cj->job.srv, c);
		return 1;
	}
}

static void td_calljob_done(struct td_job *j, int res)
{
	struct td_calljob *cj = (struct td_calljob *)j;
	long ret;

	td_timer_stop(j->srv, &j->timer);
	ret = cj->placed == TD_RUN_RING ? td_ring_result(cj, res)
					: td_helper_result(cj, res);
	cj->call->ret = ret;
	td_call_ran(j->srv, cj->call, ret, true);
	if (cj->batch) {
		td_batch_record(cj, ret);
		td_batch_step(cj);
		return;
	}
	cj->ret = ret;
	td_calljob_finish(cj);
}

static void td_calljob_expire(struct td_job *j)
{
	td_job_cancel(j);
}

/* The submitter or the owner is going.  DETACH_CANCEL: cancelled and its
 * result dropped -- unless a COLLECT of another connection waits. */
static void td_calljob_detach(struct td_job *j, struct td_conn *c)
{
	struct td_calljob *cj = (struct td_calljob *)j;

	/* A completion its connection never reaped: parked for the next
	 * controller, or with DETACH_CANCEL dropped, as if it had run on. */
	if (cj->queued) {
		td_reap_unqueue(c, cj);
		if (cj->cancel_on_detach && !c->observer &&
		    j->generation == c->generation)
			td_job_end(j);
		else
			td_calljob_park(cj);
		return;
	}
	if (cj->xfer && !cj->xfer->over)
		return;		/* the transfer's abort ends it */
	if (cj->parked || !cj->cancel_on_detach || cj->collector ||
	    c->observer || j->generation != c->generation)
		return;
	cj->drop = true;
	if (j->at != TD_JOB_LOOP)
		td_job_cancel(j);
}

static void td_calljob_release(struct td_job *j)
{
	struct td_calljob *cj = (struct td_calljob *)j;
	struct td_server *srv = j->srv;

	if (cj->parked) {
		srv->exec.nparked--;
		srv->exec.parked_bytes -= cj->body.size;
	}
	if (cj->batch) {
		td_batch_free(cj->batch);
	} else if (cj->call) {
		td_call_free(cj->call);
		free(cj->call);
	}
	if (cj->xfer) {
		/* A call that ended before its data moved (it could not be
		 * placed, or its argument failed) may still hold the data
		 * socket: the connection must not keep a freed transfer. */
		td_xfer_disown(cj->xfer);
		td_xfer_release(cj->xfer);
		free(cj->xfer);
	}
	msgpack_sbuffer_destroy(&cj->body);
	free(cj);
}

const struct td_job_ops td_call_ops = {
	.name = "SYSCALL",
	.work = td_calljob_work,
	.done = td_calljob_done,
	.expire = td_calljob_expire,
	.detach = td_calljob_detach,
	.release = td_calljob_release,
};

struct td_calljob *td_calljob_new(void)
{
	struct td_calljob *cj = calloc(1, sizeof(*cj));

	if (cj)
		msgpack_sbuffer_init(&cj->body);
	return cj;
}

/* ---- answers and parked records --------------------------------------- */

/* The record COLLECT answers with, and PENDING describes, into cj->body:
 * 0, or -ENOMEM with the body cleared. */
static int td_calljob_pack_record(struct td_calljob *cj)
{
	struct td_call *c = cj->call;
	struct tp_record rec = {
		.id = cj->job.id,
		.state = tp_str(cj->data_lost ? "lost" : "done"),
		.since = cj->job.since_ms,
		.generation = cj->job.generation,
		.data_lost = cj->data_lost,
		.is_batch = cj->is_batch,
		.ret = cj->ret,
	};
	msgpack_packer pk;
	struct tp_w w;

	if (cj->data_lost) {
		/* Over budget: what it was and what it returned, no bytes
		 * (a batch: how many entries completed). */
		rec.has = TP_RECORD_NR | TP_RECORD_RET;
		rec.nr = c && !cj->is_batch ? c->nr : -1;
	} else if (cj->batch) {
		rec.has = TP_RECORD_BATCH;
		td_batch_reply(cj->batch, &rec.batch);
	} else {
		rec.has = TP_RECORD_NR | TP_RECORD_ARGS | TP_RECORD_RESULT |
			  TP_RECORD_RET;
		rec.nr = c->nr;
		td_call_args(c, &rec.args);
		td_call_result(c, cj->ret, &rec.result);
	}
	tp_w_buffer(&w, &pk, &cj->body);
	if (tp_pack_record(&w, &rec) < 0)
		msgpack_sbuffer_clear(&cj->body);
	return w.err;
}

/* The record without its bytes: what it was and what it returned. */
static void td_calljob_lose_data(struct td_calljob *cj)
{
	cj->data_lost = true;
	cj->job.srv->exec.parked_lost++;
	/* Freed, not cleared: clear keeps the buffer the bytes were packed
	 * into, and the budget counts only what is parked. */
	msgpack_sbuffer_destroy(&cj->body);
	msgpack_sbuffer_init(&cj->body);
	td_calljob_pack_record(cj);
}

/* Body b as the answer to (conn, id); one that cannot be framed (or was
 * not packed whole: b empty) is an error the waiter hears, not
 * silence. */
static void td_send_body(struct td_conn *conn, uint64_t id,
			 const msgpack_sbuffer *b)
{
	struct tp_msg m;
	int rc = 0;

	if (!conn || td_conn_gone(conn))
		return;
	tp_msg_init(&m);
	tp_msg_reply(&m, id, 0);
	tp_w_raw(&m.w, b->data, b->size);
	if (!b->size || (rc = tp_msg_finish(&m)) < 0) {
		tp_msg_destroy(&m);
		tp_msg_init(&m);
		if (b->size)
			rc = tp_msg_error(&m, id, rc == -EMSGSIZE ? EMSGSIZE
				  : -rc, "the result (%zu bytes) %s", b->size,
				  rc == -EMSGSIZE ? "exceeds the frame limit"
						  : "could not be framed");
		else
			rc = tp_msg_error(&m, id, ENOMEM, "the result could "
					  "not be packed: out of memory");
		if (rc < 0)
			goto out;
	}
	td_conn_queue(conn, &m);
out:
	tp_msg_destroy(&m);
}

/* The waiting submitter: the answer a direct call has. */
static void td_calljob_answer(struct td_calljob *cj)
{
	struct td_conn *to = cj->job.to;
	msgpack_packer pk;
	struct tp_w w;
	struct tp_batch_reply rep;

	tp_w_buffer(&w, &pk, &cj->body);
	if (cj->batch) {
		td_batch_reply(cj->batch, &rep);
		tp_pack_batch_reply(&w, &rep);
	} else {
		/* -ETIMEDOUT because our timer fired, not the call's own:
		 * said to a client that asked (parked records never say) */
		cj->call->cause = to && to->causes && cj->job.timed_out &&
				  cj->ret == -ETIMEDOUT ? TP_CAUSE_TIMEOUT
							: NULL;
		td_call_pack_result(&w, cj->call, cj->ret);
		cj->call->cause = NULL;
	}
	if (w.err)
		msgpack_sbuffer_clear(&cj->body);
	td_send_body(to, cj->job.to_id, &cj->body);
	/* The bytes announced go only after an answer that went. */
	if (!w.err && !cj->batch && cj->call->data_idx >= 0 && to &&
	    !td_conn_gone(to)) {
		msgpack_sbuffer_clear(&cj->body);
		td_call_data_out(cj, to);
		return;
	}
	msgpack_sbuffer_clear(&cj->body);
	td_job_end(&cj->job);
}

void td_calljob_park(struct td_calljob *cj)
{
	struct td_server *srv = cj->job.srv;

	/* A record carries every byte in the frame. */
	if (cj->call)
		cj->call->data_reply = false;
	if (cj->batch)
		cj->ret = (long)cj->batch->executed;
	/* A record travels in one frame: one too big for it (or that
	 * could not be packed) keeps its return value and says the bytes
	 * were lost. */
	if (td_calljob_pack_record(cj) < 0 || cj->body.size > TD_RECORD_MAX) {
		td_log("result %llu too big for a frame (%zu bytes): data "
		       "dropped", (unsigned long long)cj->job.id, cj->body.size);
		td_calljob_lose_data(cj);
	}
	if (cj->collector) {
		struct td_job *col = cj->collector;

		cj->collector = NULL;
		td_send_body(col->to, col->to_id, &cj->body);
		td_job_end(col);
		td_job_end(&cj->job);
		return;
	}
	/* Nobody waits: park it for the next controller, within budget;
	 * past it keep the result but say the data was lost. */
	if (!cj->data_lost && (srv->exec.nparked >= TD_PARKED_MAX ||
	    srv->exec.parked_bytes + cj->body.size > TD_PARKED_BYTES)) {
		td_calljob_lose_data(cj);
		td_log("parked result %llu over budget: data dropped",
		       (unsigned long long)cj->job.id);
	}
	cj->parked = true;
	srv->exec.nparked++;
	srv->exec.parked_bytes += cj->body.size;
	/* The parked budget bounds it now, not its connection's quota. */
	if (cj->job.owner) {
		cj->job.owner->njobs--;
		cj->job.owner = NULL;
	}
	/* The buffers are in the record now (the call stays: PENDING names
	 * it). */
	if (cj->batch) {
		td_batch_free(cj->batch);
		cj->batch = NULL;
		cj->call = NULL;
	} else if (cj->call) {
		td_call_free(cj->call);
	}
}

void td_calljob_finish(struct td_calljob *cj)
{
	if (cj->job.to && !cj->async) {
		td_calljob_answer(cj);
		return;
	}
	if (cj->reap && td_reap_complete(cj))
		return;
	if (cj->drop && !cj->collector) {
		td_job_end(&cj->job);
		return;
	}
	td_calljob_park(cj);
}

/* ---- SYSCALL ---------------------------------------------------------- */

/* [ret, outs] in the request's own reply. */
static int td_call_answer_now(struct td_req *r, struct td_call *c, long ret)
{
	int rc = td_call_pack_result(r->w, c, ret);

	td_call_free(c);
	free(c);
	return rc;
}

int td_call_go(struct td_req *r, struct td_call *c)
{
	struct td_calljob *cj;
	long ret;
	int rc;

	/* The common case: it cannot block (or, this time, will not). */
	if (td_call_route(c) == TD_RUN_DIRECT) {
		ret = td_call_run(r->srv, c);
		return td_call_answer_now(r, c, ret);
	}
	if (td_call_inline(r->srv, c, &ret))
		return td_call_answer_now(r, c, ret);
	if (!(cj = td_calljob_new())) {
		td_call_free(c);
		free(c);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	cj->call = c;
	if ((rc = td_job_start(&cj->job, &td_call_ops, r)) < 0) {
		td_calljob_release(&cj->job);
		return rc;
	}
	cj->async = c->flags & TETHER_CALL_ASYNC;
	cj->cancel_on_detach = c->flags & TETHER_CALL_DETACH_CANCEL;
	rc = td_calljob_place(cj);
	if (rc < 0) {
		td_job_end(&cj->job);
		return td_req_fail(r, -rc, rc == -EAGAIN
				   ? "every helper thread that syscalls may "
				     "use is busy (tetherd --helpers): cancel "
				     "one, or try again"
				   : "cannot run it: %s", strerror(-rc));
	}
	if (rc > 0) {
		/* It ran at once (a data-socket buffer made it a job). */
		cj->ret = c->ret;
		td_calljob_finish(cj);
		return TD_REPLY_LATER;
	}
	if (cj->async) {
		struct tp_syscall_async a = { .async_id = cj->job.id,
					      .state = tp_str("running") };

		/* Answered now with the id; the result waits for COLLECT
		 * (a reply that could not be packed leaves it parked). */
		cj->job.to = NULL;
		return tp_pack_syscall_async(r->w, &a);
	}
	return TD_REPLY_LATER;
}

/* ---- data-socket buffers ------------------------------------------------ */

/* The out bytes have gone (or could not). */
static void td_call_out_done(struct td_xfer *x, int err)
{
	struct td_calljob *cj = (struct td_calljob *)x->job;
	struct td_conn *c = cj->job.to;

	/* The connection went while the call still runs: it runs on, and
	 * its result is parked like any other's. */
	if (!x->started)
		return;
	/* The reply promised bytes we could not send: the stream is lost. */
	if (err && c && !td_conn_gone(c))
		td_conn_fail(c, "data stream of a syscall failed");
	td_job_end(&cj->job);
}

void td_call_data_out(struct td_calljob *cj, struct td_conn *conn)
{
	struct td_xfer *x = cj->xfer;
	struct td_call *c = cj->call;

	x->sending = true;
	x->fd = -1;
	x->mem = c->a[c->data_idx].b.p;
	x->total = c->data_n;
	x->finish = td_call_out_done;
	if (conn->xfer != x && td_xfer_claim(conn, x, &cj->job) < 0) {
		td_conn_fail(conn, "no room for a syscall's data");
		td_job_end(&cj->job);
		return;
	}
	td_xfer_start(x);
}

/* The in bytes have come: run the call, or say why not. */
static void td_call_in_done(struct td_xfer *x, int err)
{
	struct td_calljob *cj = (struct td_calljob *)x->job;
	int rc;

	if (err) {
		td_job_fail(&cj->job, -err, "receiving an argument: %s",
			    strerror(-err));
		td_job_end(&cj->job);
		return;
	}
	if (!cj->job.to) {
		td_job_end(&cj->job);
		return;
	}
	/* The data socket stays ours for the out bytes, if any; should the
	 * connection go while the call runs, the call parks. */
	td_xfer_reset(x);
	x->finish = td_call_out_done;
	if (cj->call->data_reply && td_xfer_claim(cj->job.to, x, &cj->job) < 0) {
		td_job_fail(&cj->job, EBUSY, "a transfer is in progress");
		td_job_end(&cj->job);
		return;
	}
	if ((rc = td_calljob_place(cj)) < 0) {
		td_job_fail(&cj->job, -rc, "cannot run it: %s", strerror(-rc));
		td_job_end(&cj->job);
	} else if (rc > 0) {
		cj->ret = cj->call->ret;
		td_calljob_finish(cj);
	}
}

int td_call_with_data(struct td_req *r, struct td_call *c, int in_idx)
{
	static const struct tp_syscall_send go = { .send = true };
	struct td_calljob *cj = td_calljob_new();
	struct td_xfer *x = calloc(1, sizeof(*x));
	struct tp_msg m;
	int rc;

	/* {send: true} is built first: if it cannot be, nothing starts. */
	tp_msg_init(&m);
	if (in_idx >= 0) {
		tp_msg_reply(&m, r->id, 0);
		tp_pack_syscall_send(&m.w, &go);
	}
	if (!cj || !x || (in_idx >= 0 && tp_msg_finish(&m) < 0)) {
		tp_msg_destroy(&m);
		free(x);
		if (cj)
			td_calljob_release(&cj->job);
		td_call_free(c);
		free(c);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	cj->call = c;
	cj->xfer = x;
	x->fd = -1;
	if ((rc = td_job_start(&cj->job, &td_call_ops, r)) < 0) {
		tp_msg_destroy(&m);
		td_calljob_release(&cj->job);
		return rc;
	}
	/* The data socket is this call's from now on. */
	td_xfer_claim(r->conn, x, &cj->job);
	if (in_idx < 0) {
		tp_msg_destroy(&m);
		x->finish = td_call_out_done;
		if ((rc = td_calljob_place(cj)) < 0) {
			td_job_end(&cj->job);
			return td_req_fail(r, -rc, "cannot run it: %s",
					   strerror(-rc));
		}
		if (rc > 0) {
			cj->ret = c->ret;
			td_calljob_finish(cj);
		}
		return TD_REPLY_LATER;
	}
	/* {send: true}, then the in bytes, then the answer. */
	x->mem = c->a[in_idx].b.p;
	x->total = c->a[in_idx].size;
	x->finish = td_call_in_done;
	td_conn_queue(r->conn, &m);
	tp_msg_destroy(&m);
	td_xfer_start(x);
	return TD_REPLY_LATER;
}

/* ---- COLLECT, PENDING, CANCEL ----------------------------------------- */

/* A COLLECT that waits for a running call. */
struct td_collectjob {
	struct td_job job;
	struct td_calljob *target;
};

static void td_collect_expire(struct td_job *j)
{
	struct td_collectjob *col = (struct td_collectjob *)j;

	td_job_fail(j, ETIMEDOUT, "request %llu still running",
		    (unsigned long long)col->target->job.id);
	col->target->collector = NULL;
	td_job_end(j);
}

static void td_collect_detach(struct td_job *j, struct td_conn *c)
{
	struct td_collectjob *col = (struct td_collectjob *)j;

	(void)c;
	if (col->target->collector == j)
		col->target->collector = NULL;
	td_job_end(j);
}

static void td_collect_release(struct td_job *j)
{
	free(j);
}

static const struct td_job_ops td_collect_ops = {
	.name = "COLLECT",
	.expire = td_collect_expire,
	.detach = td_collect_detach,
	.release = td_collect_release,
};

static struct td_calljob *td_calljob_find(struct td_server *srv, uint64_t id)
{
	struct td_job *j = td_job_find(srv, id);

	return j && j->ops == &td_call_ops ? (struct td_calljob *)j : NULL;
}

/* COLLECT [id, wait_ms]: the record, now or when it completes. */
int td_do_collect(struct td_req *r)
{
	struct tp_collect req;
	struct tp_err e;
	struct td_collectjob *col;
	struct td_calljob *cj;
	uint64_t id;
	int64_t wait;
	int rc;

	if ((rc = tp_unpack_collect(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	id = req.id;
	wait = req.has & TP_COLLECT_WAIT_MS ? req.wait_ms : -1;
	if (!(cj = td_calljob_find(r->srv, id)))
		return td_req_fail(r, ENOENT, "no pending request %llu",
				   (unsigned long long)id);
	/* A SUBMIT completion not yet reaped: this COLLECT takes it. */
	if (cj->queued) {
		td_reap_unqueue(cj->job.owner, cj);
		td_calljob_park(cj);
	}
	if (cj->parked) {
		/* A record that could not be kept at all is an error now. */
		if (!cj->body.size)
			rc = td_req_fail(r, ENOMEM, "the record of request "
					 "%llu was lost: out of memory",
					 (unsigned long long)id);
		else
			rc = tp_w_raw(r->w, cj->body.data, cj->body.size);
		td_job_end(&cj->job);
		return rc;
	}
	if ((cj->job.to && !cj->async) || cj->collector)
		return td_req_fail(r, EBUSY, "request %llu is already waited "
				   "for", (unsigned long long)id);
	if (wait == 0)
		return td_req_fail(r, EAGAIN, "request %llu is still running",
				   (unsigned long long)id);
	if (!(col = calloc(1, sizeof(*col))))
		return td_req_fail(r, ENOMEM, "out of memory");
	if ((rc = td_job_start(&col->job, &td_collect_ops, r)) < 0) {
		free(col);
		return rc;
	}
	col->target = cj;
	cj->collector = &col->job;
	if (wait > 0)
		td_timer_in(r->srv, &col->job.timer, (uint64_t)wait);
	return TD_REPLY_LATER;
}

static const char *td_calljob_state(const struct td_calljob *cj)
{
	if (cj->queued)
		return "done";
	if (!cj->parked)
		return "running";
	return cj->data_lost ? "lost" : "done";
}

/* PENDING's entries go out in list order: the walk goes on from the
 * last one.  A page is the calls whose id is in [floor, before). */
struct td_pending_walk {
	struct td_job *j;
	uint64_t floor;
	uint64_t before;		/* 0: no bound */
};

static bool td_pending_listed(const struct td_job *j,
			      const struct td_pending_walk *walk)
{
	return j->ops == &td_call_ops && !j->ended && j->id >= walk->floor &&
	       (!walk->before || j->id < walk->before);
}

/* The next running or parked call's entry. */
static int td_pending_pack_one(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_pending_walk *walk = (struct td_pending_walk *)ctx;
	struct td_job *j = walk->j;
	struct td_calljob *cj;
	struct tp_pending_entry e;

	(void)i;
	while (!td_pending_listed(j, walk))
		j = j->next;
	walk->j = j->next;
	cj = (struct td_calljob *)j;
	e = (struct tp_pending_entry){
		.id = j->id,
		.nr = cj->is_batch ? -1 : cj->call ? cj->call->nr : -1,
		.state = tp_str(td_calljob_state(cj)),
		.since = j->since_ms,
		.generation = j->generation,
		.batch = cj->is_batch,
		.waited = (j->to && !cj->async) || cj->collector ||
			  (cj->reap && j->owner),
		.where = tp_str(cj->parked ? "parked"
				: cj->queued ? "reap"
				: j->at == TD_JOB_RING ? "ring"
				: j->at == TD_JOB_HELPER ? "helper"
							 : "server"),
	};
	return tp_pack_pending_entry(w, &e);
}

static int td_u64_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y) - (x > y);
}

/* PENDING []: every running or parked call, in one reply (what clients
 * before paging read; past ~4,000 calls too many objects for them to
 * decode).  PENDING [before]: the TD_PENDING_PAGE highest ids below it
 * (0: below none), and "next", what to ask below, while there are more.
 * Not by list order: calls an upgrade restored are not in id order.  A
 * call that ends between two pages is missed, never shown twice. */
int td_do_pending(struct td_req *r)
{
	struct td_pending_walk walk = { r->srv->deferred.jobs, 0, 0 };
	struct tp_pending_reply rep = {
		.pending = { .each = td_pending_pack_one, .ctx = &walk },
		.parked_lost = r->srv->exec.parked_lost,
		.parked_bytes = r->srv->exec.parked_bytes,
	};
	struct tp_from req;
	struct tp_err e;
	uint64_t *ids = NULL;
	size_t n = 0, cap = 0;
	int rc;

	if ((rc = tp_unpack_pending(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	if (req.has & TP_FROM_FROM) {
		walk.before = req.ufrom;
		rep.has |= TP_PENDING_NEXT;
	}
	for (struct td_job *j = r->srv->deferred.jobs; j; j = j->next) {
		if (!td_pending_listed(j, &walk))
			continue;
		if (n == cap) {
			uint64_t *v = realloc(ids, (cap = cap ? 2 * cap : 256) *
						      sizeof(*v));

			if (!v) {
				free(ids);
				return td_req_fail(r, ENOMEM, "out of memory");
			}
			ids = v;
		}
		ids[n++] = j->id;
	}
	if ((rep.has & TP_PENDING_NEXT) && n > TD_PENDING_PAGE) {
		qsort(ids, n, sizeof(*ids), td_u64_desc);
		n = TD_PENDING_PAGE;
		walk.floor = rep.next = ids[n - 1];
	}
	free(ids);
	rep.pending.n = (uint32_t)n;
	return tp_pack_pending_reply(r->w, &rep);
}

/* CANCEL [id]. */
int td_do_cancel(struct td_req *r)
{
	struct tp_cancel req;
	struct tp_err e;
	struct td_calljob *cj;
	uint64_t id;
	int rc;

	if ((rc = tp_unpack_cancel(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	id = req.id;
	if (!(cj = td_calljob_find(r->srv, id)))
		return td_req_fail(r, ENOENT, "no pending request %llu",
				   (unsigned long long)id);
	if (cj->parked || cj->job.at == TD_JOB_LOOP)
		return td_req_fail(r, EALREADY, "request %llu has completed",
				   (unsigned long long)id);
	td_job_cancel(&cj->job);
	req.cancelled = true;
	return tp_pack_cancel_reply(r->w, &req);
}
