/*
 * Syscalls through io_uring: what may block (reads of pipes and sockets,
 * accept, connect, poll, sleeps, fsync ...) runs as a ring submission, so
 * the server goes on serving handshakes, children and logs meanwhile.
 * Cheap, non-blocking calls still run directly: the ring costs more than
 * a plain syscall for them.  PENDING, COLLECT and CANCEL live here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "async.h"
#include "tetherd.h"

static int64_t td_epoch_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads and writes of regular files do not block for long: direct. */
/* An O_NONBLOCK fd does not block either: the caller wants EAGAIN,
 * which only the direct call gives. */
static bool td_fd_may_block(int fd)
{
	struct stat st;
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || (fl & O_NONBLOCK) || fstat(fd, &st) < 0)
		return false;		/* the direct call reports EBADF */
	return !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode) &&
	       !S_ISDIR(st.st_mode);
}

/* Map c onto an SQE (sqe NULL: only ask whether it maps). */
static bool td_ring_map(struct td_call *c, struct io_uring_sqe *sqe,
			struct td_inflight *inf)
{
	const uint64_t *a;
	uint64_t r[TETHER_NARGS_MAX];
	struct pollfd pfd;

	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		r[i] = c->a[i].reg;
	a = r;
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
			return false;	/* with an address: direct */
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
	case SYS_openat:
		if (sqe)
			io_uring_prep_openat(sqe, FD(0), PTR(1), (int)a[2],
					     (mode_t)a[3]);
		return true;
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
			return false;	/* offsets by pointer: direct */
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
			memcpy(&inf->sleep, c->a[0].buf, sizeof(inf->sleep));
			io_uring_prep_timeout(sqe, &inf->sleep, 0, 0);
		}
		return true;
	case SYS_poll:
		/* One pollfd: a poll of one fd, the timeout linked.  With a
		 * timeout of 0 it never blocks: direct. */
		if (a[1] != 1 || (int)a[2] == 0 || (c->a[0].kind != TD_ARG_INOUT &&
				  c->a[0].kind != TD_ARG_IN) ||
		    c->a[0].size < sizeof(pfd))
			return false;
		if (sqe) {
			memcpy(&pfd, c->a[0].buf, sizeof(pfd));
			io_uring_prep_poll_add(sqe, pfd.fd, (unsigned)pfd.events);
		}
		return true;
	default:
		return false;
	}
#undef FD
#undef PTR
}

/* Through the ring by default: what may block indefinitely. */
static bool td_ring_default(const struct td_call *c)
{
	switch (c->nr) {
	case SYS_read: case SYS_readv: case SYS_pread64: case SYS_preadv:
	case SYS_write: case SYS_writev: case SYS_pwrite64: case SYS_pwritev:
		return td_fd_may_block((int)c->a[0].reg);
	case SYS_recvfrom: case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg:
	case SYS_accept: case SYS_accept4: case SYS_connect:
		return td_fd_may_block((int)c->a[0].reg);
	case SYS_poll:
	case SYS_nanosleep: case SYS_splice: case SYS_tee: case SYS_fsync:
	case SYS_fdatasync:
		return true;
	default:
		return false;
	}
}

bool td_ring_wants(const struct td_call *c)
{
	if ((c->flags & TETHER_CALL_SYNC) || td_call_hits_internal(c) ||
	    !td_ring_map((struct td_call *)c, NULL, NULL))
		return false;
	return (c->flags & TETHER_CALL_ASYNC) || c->timeout_ms ||
	       td_ring_default(c);
}

static struct td_inflight *td_inflight_alloc(struct td_server *srv,
					     uint64_t generation)
{
	struct td_inflight *inf = calloc(1, sizeof(*inf));

	if (!inf)
		return NULL;
	inf->srv = srv;
	inf->id = ++srv->async_seq;
	inf->generation = generation;
	inf->since_ms = td_epoch_ms();
	inf->ev.kind = TD_EV_ASYNC;
	inf->ev.obj = inf;
	msgpack_sbuffer_init(&inf->body);
	inf->next = srv->inflight;
	srv->inflight = inf;
	return inf;
}

struct td_inflight *td_inflight_new(struct td_req *r)
{
	return td_inflight_alloc(r->srv, r->conn->generation);
}

static void td_inflight_free(struct td_inflight *inf)
{
	struct td_inflight **pp = &inf->srv->inflight;

	while (*pp && *pp != inf)
		pp = &(*pp)->next;
	if (*pp)
		*pp = inf->next;
	if (inf->done) {
		inf->srv->nparked--;
		inf->srv->parked_bytes -= inf->body.size;
	}
	if (inf->batch) {
		td_batch_free(inf->batch);
	} else if (inf->call) {
		td_call_free(inf->call);
		free(inf->call);
	}
	msgpack_sbuffer_destroy(&inf->body);
	free(inf);
}

int td_ring_submit(struct td_inflight *inf)
{
	struct td_server *srv = inf->srv;
	struct io_uring_sqe *sqe, *tsqe;
	uint64_t ms = inf->call->timeout_ms;
	int64_t poll_ms;

	/* Room for the op and its linked timeout in one submission: a
	 * chain cut by a submit would lose its link. */
	if (io_uring_sq_space_left(&srv->ring) < 2)
		io_uring_submit(&srv->ring);
	if (!(sqe = io_uring_get_sqe(&srv->ring)))
		return -EAGAIN;
	td_ring_map(inf->call, sqe, inf);
	io_uring_sqe_set_data(sqe, &inf->ev);
	/* poll(2)'s own timeout, or the request's: a linked timeout. */
	if (inf->call->nr == SYS_poll &&
	    (poll_ms = (int)inf->call->a[2].reg) >= 0 &&
	    (!ms || (uint64_t)poll_ms < ms))
		ms = (uint64_t)poll_ms;
	inf->timed = false;
	if (ms) {
		/* Linked: the timeout must be the very next SQE. */
		sqe->flags |= IOSQE_IO_LINK;
		if ((tsqe = io_uring_get_sqe(&srv->ring))) {
			inf->ts.tv_sec = (long long)(ms / 1000);
			inf->ts.tv_nsec = (long long)(ms % 1000) * 1000000;
			io_uring_prep_link_timeout(tsqe, &inf->ts, 0);
			io_uring_sqe_set_data(tsqe, NULL);
			inf->timed = true;
		}
	}
	inf->running = true;
	srv->nring++;
	return 0;
}

/* What the syscall itself would have returned. */
static long td_ring_result(struct td_inflight *inf, int res)
{
	struct td_call *c = inf->call;
	uint64_t regs[TETHER_NARGS_MAX];

	switch (c->nr) {
	case SYS_nanosleep:
		if (res == -ETIME)
			return 0;
		if (res != -ECANCELED || inf->cancelled)
			return res;
		return inf->timed ? -ETIMEDOUT : -EINTR;
	case SYS_poll:
		if (res >= 0) {
			struct pollfd pfd;

			memcpy(&pfd, c->a[0].buf, sizeof(pfd));
			pfd.revents = (short)res;
			memcpy(c->a[0].buf, &pfd, sizeof(pfd));
			return 1;
		}
		if (res == -ECANCELED && inf->timed && !inf->cancelled)
			return 0;
		return res;
	case SYS_close:
		for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
			regs[i] = c->a[i].reg;
		td_labels_syscall_done(inf->srv, c->nr, regs, res);
		return res;
	default:
		if (res == -ECANCELED && inf->timed && !inf->cancelled)
			return -ETIMEDOUT;
		return res;
	}
}

/* The answer to whoever waits; one that cannot be framed is an error
 * the waiter hears, not silence. */
static void td_inflight_send(struct td_inflight *inf, const msgpack_sbuffer *b)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_reply(&m, inf->to_id, 0);
	msgpack_sbuffer_write(&m.sb, b->data, b->size);
	if (tp_msg_finish(&m) < 0) {
		tp_msg_destroy(&m);
		tp_msg_init(&m);
		if (tp_msg_error(&m, inf->to_id, EMSGSIZE, "the result (%zu "
				 "bytes) exceeds the frame limit", b->size) < 0)
			goto out;
	}
	td_conn_queue(inf->to, &m);
out:
	tp_msg_destroy(&m);
}



/* The record COLLECT answers with, and PENDING describes. */
static void td_inflight_pack_record(msgpack_packer *pk,
				    const struct td_inflight *inf)
{
	const struct td_call *c = inf->call;

	msgpack_pack_map(pk, inf->data_lost ? 8 : inf->batch ? 7 : 10);
	tp_pack_kv_int(pk, "id", (int64_t)inf->id);
	tp_pack_kv_str(pk, "state", inf->data_lost ? "lost" : "done");
	tp_pack_kv_int(pk, "since", inf->since_ms);
	tp_pack_kv_int(pk, "generation", (int64_t)inf->generation);
	tp_pack_kv_bool(pk, "data_lost", inf->data_lost);
	tp_pack_kv_bool(pk, "is_batch", inf->is_batch);
	if (inf->data_lost) {
		/* Over budget: what it was and what it returned, no bytes
		 * (a batch: how many entries completed). */
		tp_pack_kv_int(pk, "nr", c && !inf->is_batch ? c->nr : -1);
		tp_pack_kv_int(pk, "ret", inf->ret);
		return;
	}
	if (inf->batch) {
		tp_pack_str(pk, "batch");
		td_batch_pack(pk, inf->batch);
		return;
	}
	tp_pack_kv_int(pk, "nr", c->nr);
	tp_pack_str(pk, "args");
	td_call_pack_args(pk, c);
	tp_pack_str(pk, "result");
	td_call_pack_result(pk, c, inf->ret);
	tp_pack_kv_int(pk, "ret", inf->ret);
}

/* The record without its bytes: what it was and what it returned. */
static void td_inflight_lose_data(struct td_inflight *inf, msgpack_packer *pk)
{
	inf->data_lost = true;
	inf->srv->parked_lost++;
	msgpack_sbuffer_clear(&inf->body);
	td_inflight_pack_record(pk, inf);
}

void td_inflight_finish(struct td_inflight *inf)
{
	struct td_server *srv = inf->srv;
	msgpack_packer pk;

	msgpack_packer_init(&pk, &inf->body, msgpack_sbuffer_write);
	if (inf->to && !inf->to_record) {
		/* The submitter still waits: the answer a direct call has. */
		if (inf->batch)
			td_batch_pack(&pk, inf->batch);
		else
			td_call_pack_result(&pk, inf->call, inf->ret);
		td_inflight_send(inf, &inf->body);
		if (!inf->batch && inf->call->data_idx >= 0) {
			td_call_data_out(inf->to, inf->to_id, inf->call);
			inf->call = NULL;
		}
		td_inflight_free(inf);
		return;
	}
	/* A record carries every byte in the frame. */
	if (inf->call)
		inf->call->data_reply = false;
	if (inf->drop && !inf->to) {
		td_inflight_free(inf);
		return;
	}
	if (inf->batch)
		inf->ret = (long)inf->batch->executed;
	td_inflight_pack_record(&pk, inf);
	/* A record travels in one frame: one too big for it keeps its
	 * return value and says the bytes were lost. */
	if (inf->body.size > TD_RECORD_MAX) {
		td_log("result %llu too big for a frame (%zu bytes): data "
		       "dropped", (unsigned long long)inf->id, inf->body.size);
		td_inflight_lose_data(inf, &pk);
	}
	if (inf->to) {
		td_inflight_send(inf, &inf->body);
		td_inflight_free(inf);
		return;
	}
	/* Nobody waits: park it for the next controller, within budget;
	 * past it keep the result but say the data was lost. */
	if (!inf->data_lost && (srv->nparked >= TD_PARKED_MAX ||
	    srv->parked_bytes + inf->body.size > TD_PARKED_BYTES)) {
		td_inflight_lose_data(inf, &pk);
		td_log("parked result %llu over budget: data dropped",
		       (unsigned long long)inf->id);
	}
	inf->done = true;
	srv->nparked++;
	srv->parked_bytes += inf->body.size;
	/* Buffers are in the record now. */
	if (inf->batch) {
		td_batch_free(inf->batch);
		inf->batch = NULL;
		inf->call = NULL;
	} else if (inf->call) {
		td_call_free(inf->call);
	}
}

void td_async_event(struct td_inflight *inf, int res)
{
	struct td_server *srv = inf->srv;
	long ret;

	inf->running = false;
	srv->nring--;
	td_fds_changed();
	ret = td_ring_result(inf, res);
	if (inf->batch) {
		td_batch_record(inf, ret);
		td_batch_step(inf);
		return;
	}
	inf->ret = ret;
	td_inflight_finish(inf);
}

/* A non-ASYNC call that may block: answered on conn when done. */
int td_async_submit_to(struct td_server *srv, struct td_conn *conn,
		       uint64_t id, struct td_call *c)
{
	struct td_inflight *inf = td_inflight_alloc(srv, conn->generation);
	struct tp_msg m;
	int rc = -ENOMEM;

	if (inf) {
		inf->call = c;
		inf->cancel_on_detach = c->flags & TETHER_CALL_DETACH_CANCEL;
		if ((rc = td_ring_submit(inf)) == 0) {
			inf->to = conn;
			inf->to_id = id;
			return TD_REPLY_LATER;
		}
		td_inflight_free(inf);
	} else {
		td_call_free(c);
		free(c);
	}
	tp_msg_init(&m);
	if (tp_msg_error(&m, id, -rc, "io_uring: %s", strerror(-rc)) == 0)
		td_conn_queue(conn, &m);
	tp_msg_destroy(&m);
	return TD_REPLY_LATER;
}

int td_async_submit(struct td_req *r, struct td_call *c)
{
	struct td_inflight *inf = td_inflight_new(r);
	int rc;

	if (!inf) {
		td_call_free(c);
		free(c);
		return td_req_fail(r, ENOMEM, "out of memory");
	}
	inf->call = c;
	inf->cancel_on_detach = c->flags & TETHER_CALL_DETACH_CANCEL;
	if ((rc = td_ring_submit(inf)) < 0) {
		td_inflight_free(inf);
		return td_req_fail(r, -rc, "io_uring: %s", strerror(-rc));
	}
	if (c->flags & TETHER_CALL_ASYNC) {
		/* Answered now with the id; the result waits for COLLECT. */
		msgpack_pack_map(r->pk, 2);
		tp_pack_kv_int(r->pk, "async_id", (int64_t)inf->id);
		tp_pack_kv_str(r->pk, "state", "running");
		return 0;
	}
	inf->to = r->conn;
	inf->to_id = r->id;
	return TD_REPLY_LATER;
}

static void td_async_cancel(struct td_inflight *inf)
{
	struct io_uring_sqe *sqe;

	if (!inf->running || !(sqe = td_sqe(inf->srv)))
		return;
	inf->cancelled = true;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&inf->ev, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

/* A connection ends: what it waits for is parked, or cancelled if it
 * asked so. */
void td_async_conn_closed(struct td_conn *c)
{
	for (struct td_inflight *inf = c->srv->inflight; inf; inf = inf->next) {
		bool mine = !c->observer && inf->generation == c->generation;

		if (inf->to == c)
			inf->to = NULL;
		/* DETACH_CANCEL, waited for or ASYNC: cancelled, and its
		 * result dropped rather than parked. */
		if (mine && inf->cancel_on_detach && !inf->done) {
			inf->drop = true;
			td_async_cancel(inf);
		}
	}
}

void td_async_cancel_all(struct td_server *srv)
{
	for (struct td_inflight *inf = srv->inflight; inf; inf = inf->next)
		td_async_cancel(inf);
}

void td_async_free_all(struct td_server *srv)
{
	while (srv->inflight)
		td_inflight_free(srv->inflight);
}

static struct td_inflight *td_async_find(struct td_server *srv, uint64_t id)
{
	for (struct td_inflight *inf = srv->inflight; inf; inf = inf->next)
		if (inf->id == id)
			return inf;
	return NULL;
}

/* PENDING []: every running or parked request. */
int td_do_pending(struct td_req *r)
{
	unsigned n = 0;

	for (struct td_inflight *inf = r->srv->inflight; inf; inf = inf->next)
		n++;
	msgpack_pack_map(r->pk, 3);
	tp_pack_str(r->pk, "pending");
	msgpack_pack_array(r->pk, n);
	for (struct td_inflight *inf = r->srv->inflight; inf; inf = inf->next) {
		msgpack_pack_map(r->pk, 7);
		tp_pack_kv_int(r->pk, "id", (int64_t)inf->id);
		tp_pack_kv_int(r->pk, "nr", inf->is_batch ? -1 :
			       inf->call ? inf->call->nr : -1);
		tp_pack_kv_str(r->pk, "state", inf->running ? "running" :
			       inf->data_lost ? "lost" : inf->done ? "done"
								 : "running");
		tp_pack_kv_int(r->pk, "since", inf->since_ms);
		tp_pack_kv_int(r->pk, "generation", (int64_t)inf->generation);
		tp_pack_kv_bool(r->pk, "batch", inf->is_batch);
		tp_pack_kv_bool(r->pk, "waited", inf->to != NULL);
	}
	tp_pack_kv_int(r->pk, "parked_lost", (int64_t)r->srv->parked_lost);
	tp_pack_kv_int(r->pk, "parked_bytes", (int64_t)r->srv->parked_bytes);
	return 0;
}

/* COLLECT [id, wait_ms]: the record, now or when it completes. */
int td_do_collect(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_inflight *inf;
	uint64_t id;
	int64_t wait = -1;

	if (!b || nb < 1 || nb > 2 || tp_obj_u64(&b[0], &id) < 0 ||
	    (nb == 2 && tp_obj_i64(&b[1], &wait) < 0))
		return td_req_fail(r, EPROTO, "COLLECT body is [id, wait_ms]");
	if (!(inf = td_async_find(r->srv, id)))
		return td_req_fail(r, ENOENT, "no pending request %llu",
				   (unsigned long long)id);
	if (inf->done) {
		msgpack_sbuffer_write(r->pk->data, inf->body.data,
				      inf->body.size);
		td_inflight_free(inf);
		return 0;
	}
	if (inf->to)
		return td_req_fail(r, EBUSY, "request %llu is already waited "
				   "for", (unsigned long long)id);
	if (wait == 0)
		return td_req_fail(r, EAGAIN, "request %llu is still running",
				   (unsigned long long)id);
	inf->to = r->conn;
	inf->to_id = r->id;
	inf->to_record = true;
	inf->to_deadline = wait > 0 ? td_now_ms() + (uint64_t)wait : 0;
	if (wait > 0)
		td_tick_arm(r->srv);
	return TD_REPLY_LATER;
}

/* CANCEL [id]. */
int td_do_cancel(struct td_req *r)
{
	size_t nb;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	struct td_inflight *inf;
	uint64_t id;

	if (!b || nb != 1 || tp_obj_u64(&b[0], &id) < 0)
		return td_req_fail(r, EPROTO, "CANCEL body is [id]");
	if (!(inf = td_async_find(r->srv, id)))
		return td_req_fail(r, ENOENT, "no pending request %llu",
				   (unsigned long long)id);
	if (!inf->running)
		return td_req_fail(r, EALREADY, "request %llu has completed",
				   (unsigned long long)id);
	td_async_cancel(inf);
	msgpack_pack_map(r->pk, 2);
	tp_pack_kv_int(r->pk, "id", (int64_t)id);
	tp_pack_kv_bool(r->pk, "cancelled", true);
	return 0;
}

/* COLLECTs that gave up waiting. */
bool td_async_tick(struct td_server *srv, uint64_t now)
{
	bool again = false;

	for (struct td_inflight *inf = srv->inflight; inf; inf = inf->next) {
		struct tp_msg m;

		if (!inf->to || !inf->to_record || !inf->to_deadline)
			continue;
		if (now < inf->to_deadline) {
			again = true;
			continue;
		}
		tp_msg_init(&m);
		if (tp_msg_error(&m, inf->to_id, ETIMEDOUT, "request %llu "
				 "still running", (unsigned long long)inf->id) == 0)
			td_conn_queue(inf->to, &m);
		tp_msg_destroy(&m);
		inf->to = NULL;
		inf->to_record = false;
	}
	return again;
}
