/*
 * The helper pool.  One mutex guards the queues, the done list and each
 * helper's current job; the loop never waits on it for long (helpers
 * hold it only to move a job between lists).
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "tetherd.h"
#include "pool.h"

struct td_helper {
	struct td_pool *pool;
	pthread_t thread;
	bool started;
	bool opener;			/* private fd table, TD_JOB_OPEN only */
	struct td_job *job;		/* running now */
};

struct td_jobq {
	struct td_job *head, *tail;
	unsigned n;
};

struct td_pool {
	struct td_server *srv;
	pthread_mutex_t lock;
	pthread_cond_t work;		/* the shared queue has a job */
	pthread_cond_t open_work;	/* the opener's queue has one */
	struct td_jobq queue;
	struct td_jobq open_queue;
	struct td_jobq done;		/* came back, for the loop */
	struct td_helper *helpers;	/* n, then the opener */
	unsigned n;
	unsigned nstarted;		/* of the n, running threads */
	unsigned idle;			/* of those, waiting for a job */
	bool lazy;			/* start them as jobs come */
	unsigned nsyscalls;		/* TD_JOB_SYSCALL jobs queued/running */
	unsigned nserver;		/* TD_JOB_SERVER jobs queued/running */
	unsigned busy;			/* every job queued or running */
	int efd;			/* internal: the done list has jobs */
	int sock[2];			/* opener -> loop, SCM_RIGHTS */
	bool opener_ready;
	bool stopping;
	struct td_timer nudge;
};

static int td_sig_cancel(void)
{
	return SIGRTMIN + 4;
}

/* Its only effect is the EINTR of the syscall it interrupts. */
static void td_on_cancel(int sig)
{
	(void)sig;
}

static void td_q_push(struct td_jobq *q, struct td_job *j)
{
	j->qnext = NULL;
	if (q->tail)
		q->tail->qnext = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct td_job *td_q_pop(struct td_jobq *q)
{
	struct td_job *j = q->head;

	if (j && !(q->head = j->qnext))
		q->tail = NULL;
	if (j)
		q->n--;
	return j;
}

static bool td_q_remove(struct td_jobq *q, struct td_job *j)
{
	struct td_job *prev = NULL;

	for (struct td_job *k = q->head; k; prev = k, k = k->qnext) {
		if (k != j)
			continue;
		if (prev)
			prev->qnext = k->qnext;
		else
			q->head = k->qnext;
		if (q->tail == k)
			q->tail = prev;
		q->n--;
		return true;
	}
	return false;
}

/* Under the lock: j is finished (or never ran); wake the loop. */
static void td_pool_finish(struct td_pool *p, struct td_job *j, int res)
{
	uint64_t one = 1;

	j->pool_res = res;
	j->helper = -1;
	td_q_push(&p->done, j);
	while (write(p->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* The opener: hand what the job opened to the loop, then forget it. */
static void td_opener_pass(struct td_pool *p, struct td_job *j)
{
	int n = j->nfds > 0 && j->nfds <= 2 ? j->nfds : 0;

	/* Always one message per job: the loop reads one per job. */
	(void)tp_send_fds(p->sock[1], "O", 1, 0, j->fds, n);
	for (int i = 0; i < j->nfds && i < 2; i++)
		close(j->fds[i]);
	j->nfds = 0;
}

/* The opener's table: a copy of the server's at the time, of which it
 * keeps only the eventfd and its end of the socket. */
static int td_opener_unshare(struct td_pool *p)
{
	int keep[2] = { p->efd < p->sock[1] ? p->efd : p->sock[1],
			p->efd < p->sock[1] ? p->sock[1] : p->efd };

	if (unshare(CLONE_FILES) < 0)
		return -errno;
	if (keep[0] > 0)
		syscall(SYS_close_range, 0, keep[0] - 1, 0);
	if (keep[1] > keep[0] + 1)
		syscall(SYS_close_range, keep[0] + 1, keep[1] - 1, 0);
	syscall(SYS_close_range, keep[1] + 1, ~0U, 0);
	return 0;
}

static void *td_helper_main(void *arg)
{
	struct td_helper *h = arg;
	struct td_pool *p = h->pool;
	int self = (int)(h - p->helpers);
	struct td_jobq *q = h->opener ? &p->open_queue : &p->queue;
	pthread_cond_t *cv = h->opener ? &p->open_work : &p->work;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, td_sig_cancel());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (h->opener) {
		int rc = td_opener_unshare(p);

		pthread_mutex_lock(&p->lock);
		p->opener_ready = rc == 0;
		pthread_cond_broadcast(&p->open_work);
		pthread_mutex_unlock(&p->lock);
		if (rc < 0)
			return NULL;
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct td_job *j;

		p->idle += !h->opener;
		while (!p->stopping && !q->head)
			pthread_cond_wait(cv, &p->lock);
		p->idle -= !h->opener;
		if (p->stopping)
			break;
		j = td_q_pop(q);
		h->job = j;
		j->helper = self;
		pthread_mutex_unlock(&p->lock);
		j->ops->work(j);
		if (h->opener)
			td_opener_pass(p, j);
		pthread_mutex_lock(&p->lock);
		h->job = NULL;
		td_pool_finish(p, j, 0);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Re-send the cancel signal to helpers still on a cancelled job: one
 * sent just before the thread entered its syscall was lost. */
static void td_pool_nudge(struct td_timer *t)
{
	struct td_pool *p = (struct td_pool *)((char *)t -
					       offsetof(struct td_pool, nudge));
	bool again = false;

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i <= p->n; i++) {
		struct td_helper *h = &p->helpers[i];

		if (h->started && h->job && h->job->cancelled) {
			pthread_kill(h->thread, td_sig_cancel());
			h->job->nudges++;
			again = true;
		}
	}
	pthread_mutex_unlock(&p->lock);
	if (again)
		td_timer_in(p->srv, &p->nudge, TD_POOL_NUDGE_MS);
}

static int td_pool_signals(void)
{
	struct sigaction sa;
	sigset_t set;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = td_on_cancel;	/* no SA_RESTART: EINTR */
	sigemptyset(&sa.sa_mask);
	if (sigaction(td_sig_cancel(), &sa, NULL) < 0)
		return -errno;
	/* Only helpers take it: the loop must not see EINTRs of ours. */
	sigemptyset(&set);
	sigaddset(&set, td_sig_cancel());
	return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int td_pool_spawn(struct td_pool *p, struct td_helper *h)
{
	pthread_attr_t attr;
	int rc;

	pthread_attr_init(&attr);
#if !defined(__SANITIZE_ADDRESS__)
	/* Syscalls, NSS lookups and a fork's child: half a MiB is ample,
	 * and only what is touched is resident. */
	pthread_attr_setstacksize(&attr, 512u << 10);
#endif
	h->pool = p;
	rc = pthread_create(&h->thread, &attr, td_helper_main, h);
	pthread_attr_destroy(&attr);
	if (rc)
		return -rc;
	h->started = true;
	return 0;
}

/* One more of the n helpers, under the lock or before any exists. */
static int td_pool_grow(struct td_pool *p)
{
	int rc;

	if (p->nstarted >= p->n)
		return -EAGAIN;
	if ((rc = td_pool_spawn(p, &p->helpers[p->nstarted])) < 0)
		return rc;
	p->nstarted++;
	return 0;
}

static int td_pool_fds(struct td_pool *p)
{
	int fd;

	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if ((p->efd = td_ifd_adopt(fd < 0 ? -errno : fd, "helper pool")) < 0)
		return p->efd;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, p->sock) < 0)
		return -errno;
	if ((p->sock[0] = td_ifd_adopt(p->sock[0], "opener")) < 0)
		return p->sock[0];
	if ((p->sock[1] = td_ifd_adopt(p->sock[1], "opener's end")) < 0)
		return p->sock[1];
	return 0;
}

static void td_pool_arm(struct td_server *srv)
{
	struct io_uring_sqe *sqe = td_sqe(srv);

	if (!sqe)
		return;
	io_uring_prep_poll_multishot(sqe, srv->deferred.pool->efd, POLLIN);
	io_uring_sqe_set_data(sqe, &srv->deferred.ev_pool);
}

int td_pool_start(struct td_server *srv, unsigned n)
{
	struct td_pool *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	srv->deferred.pool = p;
	p->srv = srv;
	p->n = n;
	p->efd = p->sock[0] = p->sock[1] = -1;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->open_work, NULL);
	td_timer_init(&p->nudge, td_pool_nudge);
	if (!(p->helpers = calloc(n + 1, sizeof(*p->helpers))))
		return -ENOMEM;
	if ((rc = td_pool_signals()) < 0 || (rc = td_pool_fds(p)) < 0)
		return rc;
	/* Under a seccomp filter no thread can be made: all of them now.
	 * Else as the jobs come (td_pool_grow): an idle server keeps no
	 * stacks it has not used. */
	p->lazy = !(srv->policy.loaded && !srv->in_process);
	for (unsigned i = 0; !p->lazy && i < n; i++)
		if ((rc = td_pool_grow(p)) < 0)
			return rc;
	p->helpers[n].opener = true;
	if ((rc = td_pool_spawn(p, &p->helpers[n])) < 0)
		return rc;
	/* The opener's copy of the table must be made before the server
	 * opens anything it should not hold: wait for its unshare. */
	pthread_mutex_lock(&p->lock);
	while (!p->opener_ready && p->helpers[n].started) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		if (pthread_cond_timedwait(&p->open_work, &p->lock, &ts))
			break;
	}
	rc = p->opener_ready ? 0 : -ENOSYS;
	pthread_mutex_unlock(&p->lock);
	if (rc < 0)
		return rc;
	/* The opener keeps its own; ours of its end is not needed. */
	td_ifd_close(p->sock[1]);
	td_pool_arm(srv);
	td_closer_init(srv);
	return 0;
}

void td_pool_stop(struct td_server *srv)
{
	struct td_pool *p = srv->deferred.pool;
	struct timespec ts;

	if (!p)
		return;
	td_fds_set_closer(NULL, NULL);	/* no helper will take them now */
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->work);
	pthread_cond_broadcast(&p->open_work);
	for (unsigned i = 0; i <= p->n; i++)
		if (p->helpers && p->helpers[i].started && p->helpers[i].job)
			pthread_kill(p->helpers[i].thread, td_sig_cancel());
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; p->helpers && i <= p->n; i++) {
		if (!p->helpers[i].started)
			continue;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		/* One stuck in an uninterruptible wait (a hung NFS mount)
		 * is left running: exit() ends it. */
		if (pthread_timedjoin_np(p->helpers[i].thread, NULL, &ts) == 0)
			p->helpers[i].started = false;
	}
	for (unsigned i = 0; p->helpers && i <= p->n; i++)
		if (p->helpers[i].started) {
			td_log("helper %u did not stop; leaving it", i);
			return;		/* still in use: keep the pool */
		}
	td_timer_stop(srv, &p->nudge);
	if (p->efd >= 0)
		td_ifd_close(p->efd);
	if (p->sock[0] >= 0)
		td_ifd_close(p->sock[0]);
	free(p->helpers);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->open_work);
	free(p);
	srv->deferred.pool = NULL;
}

int td_pool_submit(struct td_server *srv, struct td_job *j)
{
	struct td_pool *p = srv->deferred.pool;
	int rc = 0;

	if (!p)
		return -EAGAIN;
	pthread_mutex_lock(&p->lock);
	if (p->stopping) {
		rc = -ESHUTDOWN;
	} else if (j->cls == TD_JOB_SYSCALL) {
		unsigned max = p->n > TD_POOL_RESERVE ? p->n - TD_POOL_RESERVE
						      : 1;

		if (p->nsyscalls >= max)
			rc = -EAGAIN;
		else
			p->nsyscalls++;
	} else if (j->cls == TD_JOB_SERVER) {
		if (p->nserver >= TD_POOL_SERVER_QUEUE)
			rc = -EAGAIN;
		else
			p->nserver++;
	}
	/* A job no idle helper will take: a helper more, if we may; if
	 * none could be made at all, nothing would ever run it. */
	if (rc == 0 && j->cls != TD_JOB_OPEN && p->lazy &&
	    p->queue.n + 1 > p->idle && p->nstarted < p->n &&
	    td_pool_grow(p) < 0 && p->nstarted == 0) {
		rc = -EAGAIN;
		if (j->cls == TD_JOB_SYSCALL)
			p->nsyscalls--;
		else if (j->cls == TD_JOB_SERVER)
			p->nserver--;
	}
	if (rc == 0) {
		j->helper = -1;
		j->pool_res = 0;
		p->busy++;
		if (j->cls == TD_JOB_OPEN) {
			td_q_push(&p->open_queue, j);
			pthread_cond_signal(&p->open_work);
		} else {
			td_q_push(&p->queue, j);
			pthread_cond_signal(&p->work);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

void td_pool_cancel(struct td_server *srv, struct td_job *j)
{
	struct td_pool *p = srv->deferred.pool;
	bool running = false;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	if (j->helper >= 0 && p->helpers[j->helper].job == j) {
		pthread_kill(p->helpers[j->helper].thread, td_sig_cancel());
		j->nudges++;
		running = true;
	} else if (td_q_remove(j->cls == TD_JOB_OPEN ? &p->open_queue
						      : &p->queue, j)) {
		/* Never ran: back through the done list, like the rest. */
		td_pool_finish(p, j, -ECANCELED);
	}
	pthread_mutex_unlock(&p->lock);
	if (running && !td_timer_armed(&p->nudge))
		td_timer_in(srv, &p->nudge, TD_POOL_NUDGE_MS);
}

/* The opener's message for j: its fds, now in the shared table. */
static void td_pool_recv_fds(struct td_pool *p, struct td_job *j)
{
	char byte;

	if (tp_recv_fds(p->sock[0], &byte, 1, MSG_DONTWAIT, j->fds, 2,
			&j->nfds, NULL) < 0 || j->nfds > 2)
		j->nfds = j->nfds > 2 ? 2 : 0;
}

void td_pool_event(struct td_server *srv, int res, bool more)
{
	struct td_pool *p = srv->deferred.pool;
	struct td_jobq done;
	uint64_t v;

	if (!p)
		return;
	if (read(p->efd, &v, sizeof(v)) < 0)
		(void)0;	/* EAGAIN: a previous wakeup took it */
	pthread_mutex_lock(&p->lock);
	done = p->done;
	p->done.head = p->done.tail = NULL;
	for (struct td_job *j = done.head; j; j = j->qnext) {
		p->busy--;
		if (j->cls == TD_JOB_SYSCALL)
			p->nsyscalls--;
		else if (j->cls == TD_JOB_SERVER)
			p->nserver--;
	}
	pthread_mutex_unlock(&p->lock);
	for (struct td_job *j = done.head, *next; j; j = next) {
		next = j->qnext;
		if (j->cls == TD_JOB_OPEN && j->pool_res == 0)
			td_pool_recv_fds(p, j);
		if (j->ended) {
			for (int i = 0; i < j->nfds; i++)
				close(j->fds[i]);
			j->nfds = 0;
		}
		td_job_helper_done(j, j->pool_res);
	}
	if (res < 0 && res != -ECANCELED)
		td_log("helper pool eventfd poll: %s", strerror(-res));
	if (!more && !srv->exiting)
		td_pool_arm(srv);
}

unsigned td_pool_busy(const struct td_server *srv)
{
	return srv->deferred.pool ? srv->deferred.pool->busy : 0;
}

void td_pool_counts(const struct td_server *srv, unsigned *threads,
		    unsigned *busy, unsigned *syscalls)
{
	struct td_pool *p = srv->deferred.pool;

	*threads = *busy = *syscalls = 0;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	*threads = p->n;
	*busy = p->busy;
	*syscalls = p->nsyscalls;
	pthread_mutex_unlock(&p->lock);
}
