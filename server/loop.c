/*
 * The event loop: one io_uring carries every event -- accepts,
 * handshakes, peers' sockets, signals, the one timer, helper threads'
 * completions, captured output, ring-run syscalls -- and each goes to
 * its module by the kind in its td_event.  Between batches: free what
 * ended, fire due timers, flush the log.  Nothing here waits but the
 * ring itself.
 */
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "deferred/job.h"
#include "deferred/pool.h"
#include "tetherd.h"

static void td_loop_deadline(struct td_timer *t);

static void td_arm_signal(struct td_server *srv)
{
	struct io_uring_sqe *sqe = td_sqe(srv);

	if (!sqe)
		return;
	io_uring_prep_poll_multishot(sqe, srv->signal_fd, POLLIN);
	io_uring_sqe_set_data(sqe, &srv->ev_signal);
}

int td_loop_init(struct td_server *srv)
{
	struct io_uring_params p;
	/* Under a policy the ring starts disabled: restrictions can only be
	 * registered before it runs anything (filter.c enables it). */
	unsigned ring_off = srv->policy.loaded && !srv->in_process
				    ? IORING_SETUP_R_DISABLED : 0;
	sigset_t mask;
	int fd, rc;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGCHLD);
	/* An ignored signal is never queued, so a SIG_IGN inherited from
	 * the controller would hide it from the signalfd. */
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(&mask, sig))
			signal(sig, SIG_DFL);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if ((srv->signal_fd = td_ifd_adopt(fd < 0 ? -errno : fd, "signalfd")) < 0)
		return srv->signal_fd;

	/* One thread submits; the kernel may skip cross-thread work. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_CQSIZE | ring_off;
	p.cq_entries = TD_RING_CQ;
	rc = io_uring_queue_init_params(TD_RING_SQ, &srv->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_CQSIZE | ring_off;
		p.cq_entries = TD_RING_CQ;
		rc = io_uring_queue_init_params(TD_RING_SQ, &srv->ring, &p);
	}
	if (rc < 0)
		return rc;
	/* The ring's fd is ours, not the controller's: move it up. */
	fd = td_ifd_adopt(fcntl(srv->ring.ring_fd, F_DUPFD_CLOEXEC, 0), "io_uring");
	if (fd < 0)
		return fd;
	close(srv->ring.ring_fd);
	srv->ring.ring_fd = srv->ring.enter_ring_fd = fd;

	srv->listen.ev_accept.kind = TD_EV_ACCEPT;
	srv->ev_signal.kind = TD_EV_SIGNAL;
	srv->deferred.ev_timer.kind = TD_EV_TIMER;
	srv->deferred.ev_pool.kind = TD_EV_POOL;
	srv->ev_log.kind = TD_EV_LOG;
	srv->listen.ev_accept.obj = srv->ev_signal.obj = srv->deferred.ev_timer.obj = srv;
	srv->deferred.ev_pool.obj = srv->ev_log.obj = srv;
	td_timer_init(&srv->shutdown_deadline, td_loop_deadline);
	td_listen_arm(srv);
	td_arm_signal(srv);
	return 0;
}

/* Begin a graceful stop: no new peers, flush what is queued, exit by a
 * deadline even if a peer never reads. */
static void td_loop_stop(struct td_server *srv, const char *why)
{
	if (srv->stopping)
		return;
	td_log_at(LOG_NOTICE, "shutting down: %s", why);
	srv->stopping = true;
	td_notify_stopping(srv);
	td_handshakes_closeall(srv);
	td_listen_close(srv);
	if (srv->workers.nrunning)
		td_log("stopping %u workers", srv->workers.nrunning);
	td_workers_stop_all(srv, TD_SHUTDOWN_DEADLINE_S * 1000 - 1000);
	td_jobs_cancel_all(srv);
	for (struct td_conn *c = srv->conns.all, *next; c; c = next) {
		next = c->next;
		if (!td_conn_unsent(c))
			td_conn_close(c, "server shutting down");
	}
	td_timer_in(srv, &srv->shutdown_deadline,
		    TD_SHUTDOWN_DEADLINE_S * 1000);
}

static void td_loop_signal(struct td_server *srv, int res, bool more)
{
	struct signalfd_siginfo si;

	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			td_workers_reap(srv);
			continue;
		}
		if (si.ssi_signo == SIGHUP) {
			td_log_reopen(srv, si.ssi_pid);
			continue;
		}
		if (si.ssi_signo == SIGUSR1) {
			td_listen_again(srv, si.ssi_pid);
			continue;
		}
		td_loop_stop(srv, strsignal((int)si.ssi_signo));
	}
	if (res < 0 && res != -ECANCELED)
		td_log_at(LOG_ERR, "signalfd poll: %s", strerror(-res));
	if (!more && !srv->stopping)
		td_arm_signal(srv);
}

static void td_loop_deadline(struct td_timer *t)
{
	struct td_server *srv = (struct td_server *)((char *)t -
				offsetof(struct td_server, shutdown_deadline));

	td_log_at(LOG_WARNING, "shutdown deadline passed; dropping %s",
		  srv->conns.all ? "unread replies" : "nothing");
	srv->deadline_passed = true;
	for (struct td_conn *c = srv->conns.all, *next; c; c = next) {
		next = c->next;
		td_conn_close(c, "shutdown deadline");
	}
}

static void td_loop_cqe(struct td_server *srv, struct io_uring_cqe *cqe)
{
	struct td_event *ev = io_uring_cqe_get_data(cqe);
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!ev)
		return;		/* linked timeouts and cancels */
	switch (ev->kind) {
	case TD_EV_ACCEPT:
		td_listen_event(srv, cqe->res, more);
		break;
	case TD_EV_HANDSHAKE:
		td_handshake_event(ev->obj, cqe->res);
		break;
	case TD_EV_CONN_IN:
		td_conn_event_in(ev->obj, cqe->res, more);
		break;
	case TD_EV_CONN_OUT:
		td_conn_event_out(ev->obj, cqe->res);
		break;
	case TD_EV_SIGNAL:
		td_loop_signal(srv, cqe->res, more);
		break;
	case TD_EV_TIMER:
		td_timers_event(srv, cqe->res);
		break;
	case TD_EV_POOL:
		td_pool_event(srv, cqe->res, more);
		break;
	case TD_EV_LOG:
		td_log_event(srv, cqe->res);
		break;
	case TD_EV_NOTIFY:
		td_notify_event(srv, cqe->res);
		break;
	case TD_EV_CAPTURE:
		td_capture_event(ev->obj, cqe->res, more);
		break;
	case TD_EV_JOB:
		td_job_ring_event(ev->obj, cqe->res);
		break;
	case TD_EV_DATA:
		td_conn_event_data(ev->obj, cqe->res);
		break;
	}
}

static bool td_loop_is(struct io_uring_cqe *cqe, enum td_ev_kind kind)
{
	struct td_event *ev = io_uring_cqe_get_data(cqe);

	return ev && ev->kind == kind;
}

/* Wait for events (at most ts long, if given), handle them all, then
 * the between-events work. */
/* UPGRADE's drain (upgrade/ decides, the loop owns the peers): stop
 * accepting -- new peers wait in the backlog for the next binary, those
 * accepted already (HELLO unread) are held for it --
 * close connections once their replies are out, exec when drained.  A
 * drain that failed or timed out accepts again. */
static void td_loop_upgrade(struct td_server *srv)
{
	struct td_upgrade *u = &srv->upgrade;

	if (!u->draining) {
		if (u->quiesced) {
			u->quiesced = false;
			td_listen_unhold(srv);
			td_listen_arm(srv);
		}
		return;
	}
	if (!u->quiesced) {
		u->quiesced = true;
		td_handshakes_hold(srv);
		td_listen_pause(srv);
	}
	/* Each peer is told why first (a controller that attached just
	 * before the drain, say, would only see a broken pipe), then
	 * closed once that is out.  Its calls still running are let go
	 * with the notice, as at the close: their cancelled results are
	 * parked, not queued behind a notice the peer stops reading at. */
	for (struct td_conn *c = srv->conns.all, *next; c; c = next) {
		next = c->next;
		if (td_conn_gone(c) || (td_conn_unsent(c) && !u->flush_late))
			continue;
		if (td_conn_unsent(c)) {
			td_conn_close(c, "its answers were not read in time "
				      "for an upgrade");
			continue;
		}
		if (!c->told_upgrading) {
			c->told_upgrading = true;
			td_jobs_conn_closed(c);
			td_conn_notice(c, EAGAIN, "tetherd is upgrading: "
				       "reconnect in a moment");
			if (td_conn_unsent(c))
				continue;
		}
		td_conn_close(c, "tetherd is upgrading");
	}
	if (td_upgrade_drained(srv))
		td_upgrade_exec(srv);
}

/* The spare fd slots (fds/spare.c): given up for a controller in a full
 * table, taken back when there is room; said in the log here. */
static void td_loop_spares(void)
{
	unsigned given, taken;

	td_spare_refill(&given, &taken);
	if (given)
		td_log_at(LOG_WARNING, "the fd table is full (RLIMIT_NOFILE): "
			  "%u spare slots given up to let a controller in",
			  given);
	if (taken)
		td_log("the fd table has room again: %u spare slots taken "
		       "back", taken);
}

static int td_loop_turn(struct td_server *srv, struct __kernel_timespec *ts)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int rc;

	if (ts)
		rc = io_uring_submit_and_wait_timeout(&srv->ring, &cqe, 1, ts,
						      NULL);
	else
		rc = io_uring_submit_and_wait(&srv->ring, 1);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY &&
	    rc != -ETIME) {
		td_log_at(LOG_ERR, "io_uring_submit_and_wait: %s",
			  strerror(-rc));
		return rc;
	}
	/* First the last turn's sends: a take-over in this batch then
	 * finds its old controller's queue as the kernel left it and can
	 * still send the notice.  Then the accepted sockets, every one
	 * adopted into the internal band before any handshake runs: until
	 * then an accepted socket sits at the lowest free number, where a
	 * controller's call (one handled earlier in the batch, or one a
	 * HELLO's catch-up runs) could write to it or close it (both found
	 * by tests/fuzz/fuzz_server).  Then the rest. */
	io_uring_for_each_cqe(&srv->ring, head, cqe)
		if (td_loop_is(cqe, TD_EV_CONN_OUT))
			td_loop_cqe(srv, cqe);
	td_conns_sent_whole(srv);
	io_uring_for_each_cqe(&srv->ring, head, cqe)
		if (td_loop_is(cqe, TD_EV_ACCEPT))
			td_loop_cqe(srv, cqe);
	td_listen_batch_run(srv);
	io_uring_for_each_cqe(&srv->ring, head, cqe) {
		if (!td_loop_is(cqe, TD_EV_ACCEPT) &&
		    !td_loop_is(cqe, TD_EV_CONN_OUT))
			td_loop_cqe(srv, cqe);
		n++;
	}
	io_uring_cq_advance(&srv->ring, n);
	/* Between events nothing holds a pointer: free what ended. */
	td_jobs_reap(srv);
	td_conns_reap(srv);
	td_loop_spares();
	td_timers_run(srv);
	td_log_flush(srv);
	td_notify_flush(srv);
	td_loop_upgrade(srv);
	/* Last: the replies of this turn ride on the next wait. */
	td_conns_send(srv);
	return 0;
}

int td_loop_run(struct td_server *srv)
{
	int rc;

	/* A resumed binary: the handshakes the old one held, now that all
	 * it kept (workers, parked results) is back for a HELLO's
	 * catch-up. */
	td_listen_unhold(srv);

	/* Until stopped, and then until nothing holds memory the ring or a
	 * helper may still touch (a helper stuck in an uninterruptible
	 * wait is given up at the deadline). */
	while (!srv->stopping || srv->conns.all || srv->workers.nrunning || srv->deferred.nring ||
	       td_workers_stopping(srv) ||
	       (td_pool_busy(srv) && !srv->deadline_passed))
		if ((rc = td_loop_turn(srv, NULL)) < 0)
			return rc;
	return 0;
}

int td_loop_once(struct td_server *srv, unsigned wait_ms)
{
	struct __kernel_timespec ts = {
		.tv_sec = wait_ms / 1000,
		.tv_nsec = (long long)(wait_ms % 1000) * 1000000,
	};

	return td_loop_turn(srv, &ts);
}
