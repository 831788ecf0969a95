/*
 * Jobs: requests answered later.  A syscall in the ring or on a helper
 * thread, a BATCH, COLLECT, WAIT, STOP, LOGS, a transfer on the data
 * socket, a SPAWN: each is one job, on one list, with one timer, answered
 * through one path, and ended one way.  What a kind does on each event
 * is in its ops; this file knows nothing of any kind.
 *
 * Lifetime: a job is freed between events, once it has ended and neither
 * the ring nor a helper thread still holds it.  A connection that goes
 * away detaches from every job it waits on or owns; the kind decides
 * whether the job then ends (WAIT), is cancelled (DETACH_CANCEL), or runs
 * on and parks its result for the next controller (a syscall).
 */
#ifndef TETHERD_JOB_H
#define TETHERD_JOB_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "deferred/timer.h"
#include "proto.h"
#include "ring.h"

#define TD_JOBS_CONTROLLER 4096		/* requests answered later, each */
#define TD_JOBS_OBSERVER 1024
#define TD_JOBS_RO 64
#define TD_JOBS_MAX 16384		/* all connections' together */

struct td_conn;
struct td_pool;
struct td_req;
struct td_server;

struct td_job;

enum td_job_at {
	TD_JOB_LOOP = 0,		/* waiting on the loop, or finished */
	TD_JOB_RING,			/* its SQE is in the ring */
	TD_JOB_HELPER,			/* queued for, or on, a helper thread */
};

struct td_job_ops {
	const char *name;
	/* A helper thread: the blocking part.  Touches only its job. */
	void (*work)(struct td_job *j);
	/* The loop: its ring op completed (res: the CQE's), or the
	 * helper's work did (res 0, or -ECANCELED if it never ran). */
	void (*done)(struct td_job *j, int res);
	/* The loop: the job's timer fired. */
	void (*expire)(struct td_job *j);
	/* The loop: connection c, which the job answers or belongs to,
	 * is closing. */
	void (*detach)(struct td_job *j, struct td_conn *c);
	/* Free what the kind holds, and the job with it (kinds embed
	 * struct td_job first and allocate the whole). */
	void (*release)(struct td_job *j);
};

/* Which helper threads may run it. */
enum td_job_class {
	TD_JOB_SYSCALL = 0,		/* a controller's blocking syscall */
	TD_JOB_SERVER,			/* the server's own file work */
	TD_JOB_OPEN,			/* opens files: the private-table helper */
};

struct td_job {
	struct td_job *next;		/* srv->deferred.jobs */
	struct td_server *srv;
	const struct td_job_ops *ops;
	uint64_t id;			/* server-wide: PENDING, COLLECT */
	uint64_t generation;		/* of the controller that asked */
	int64_t since_ms;		/* epoch */
	struct td_conn *to;		/* gets the answer (NULL: nobody) */
	uint64_t to_id;
	struct td_conn *owner;		/* counted against its quota */
	struct td_timer timer;
	enum td_job_at at;
	enum td_job_class cls;
	bool cancelled;			/* CANCEL, detach or shutdown */
	bool timed_out;			/* its timer fired first */
	bool ended;			/* answered or abandoned: free it */
	struct td_event ev;		/* ring completions */
	/* pool.c's, under its lock */
	struct td_job *qnext;
	int helper;			/* running on helper #, or -1 */
	unsigned nudges;		/* cancel signals sent */
	int pool_res;			/* -ECANCELED: never ran */
	/* TD_JOB_OPEN: what the opener opened */
	int fds[2];
	int nfds;
};

/* The module's state in the server: jobs, timers, helper threads. */
struct td_deferred {
	struct td_job *jobs;
	unsigned njobs;
	unsigned nended;		/* ended, not yet freed: reap walks */
	uint64_t job_seq;
	unsigned nring;			/* SQEs of jobs in the ring */
	/* timer.c */
	struct td_timer **timers;	/* a heap by deadline */
	unsigned ntimers;
	unsigned captimers;
	bool timer_armed;
	uint64_t timer_when;
	struct __kernel_timespec timer_ts;
	struct td_event ev_timer;
	/* pool.c */
	struct td_pool *pool;
	struct td_event ev_pool;
};

/* Start j of kind ops for request r (to answer, owner: r's connection).
 * -EAGAIN (with r->err) when the connection's quota is used up. */
int td_job_start(struct td_job *j, const struct td_job_ops *ops,
		 struct td_req *r);
/* How many more jobs c may start now (its quota, and all
 * connections'): SUBMIT checks its entries at once. */
unsigned td_job_room(const struct td_conn *c);
/* What the opener handed j (fds[]), closed: part of a release. */
void td_job_close_fds(struct td_job *j);
/* The release of a job that holds nothing but itself (allocated, the
 * job first) and those fds. */
void td_job_release_plain(struct td_job *j);
/* A job nobody asked for on a connection (the server's own). */
void td_job_start_internal(struct td_job *j, const struct td_job_ops *ops,
			   struct td_server *srv);
/* One of those whose work opens files, on the opener helper: 0, or
 * -errno with the job ended when no helper takes it. */
int td_job_internal_to_opener(struct td_job *j, const struct td_job_ops *ops,
			      struct td_server *srv);

/* Hand the blocking part to a helper: 0, or -EAGAIN when every helper
 * the job's class may use is busy. */
int td_job_to_helper(struct td_job *j);
/* The job's SQE is in the ring: completions come to ops->done. */
void td_job_in_ring(struct td_job *j, struct io_uring_sqe *sqe);
/* Stop it: cancel its ring op, interrupt its helper.  Its done() still
 * comes (with -ECANCELED or -EINTR), unless it has ended. */
void td_job_cancel(struct td_job *j);
/* Done with it: no more answers, timer stopped, quota returned; freed
 * once the ring and the helpers let go. */
void td_job_end(struct td_job *j);

/* Answer on j->to with m (consumed, finished here): 0, or the -errno
 * that kept it from being built, which j->to hears instead. */
int td_job_send(struct td_job *j, struct tp_msg *m);
void td_job_fail(struct td_job *j, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The loop: a ring completion / helper completion for j. */
void td_job_ring_event(struct td_job *j, int res);
void td_job_helper_done(struct td_job *j, int res);
/* Connection c is closing: every job it waits on or owns hears. */
void td_jobs_conn_closed(struct td_conn *c);
/* Free ended jobs nobody holds; between events. */
void td_jobs_reap(struct td_server *srv);
/* Shutting down: cancel every job. */
void td_jobs_cancel_all(struct td_server *srv);
void td_jobs_free_all(struct td_server *srv);
struct td_job *td_job_find(struct td_server *srv, uint64_t id);
/* Jobs of connection c (its quota's use). */
unsigned td_jobs_of(const struct td_conn *c);

#endif
