/*
 * tetherd internals.  One process, one thread, one io_uring.
 * Functions return 0 or a negative errno unless they say otherwise.
 */
#ifndef TETHERD_H
#define TETHERD_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include "proto.h"

#include "timer.h"

/* Who may hold what.  Every slot has a bound per class of peer, so the
 * least-privileged peer cannot use up what the owner needs: a controller
 * (and a take-over) always finds a handshake slot of its own class, and
 * observers never count against attaching. */
#define TD_HS_FULL_MAX 32		/* handshakes of full-access peers */
#define TD_HS_FULL_PER_UID 16
#define TD_HS_RO_MAX 16			/* of --read-only-uid peers */
#define TD_HS_RO_PER_UID 4
#define TD_HS_REFUSED_MAX 4		/* of peers we will refuse */
#define TD_HS_TIMEOUT_MS 5000		/* full-access peers' HELLO deadline */
#define TD_HS_TIMEOUT_RO_MS 1000	/* the others' */
#define TD_OBS_FULL_MAX 256		/* observers of full-access peers */
#define TD_OBS_FULL_PER_UID 128
#define TD_OBS_RO_MAX 32		/* of --read-only-uid peers */
#define TD_OBS_RO_PER_UID 8
#define TD_JOBS_CONTROLLER 4096		/* requests answered later, each */
#define TD_JOBS_OBSERVER 1024
#define TD_JOBS_RO 64
#define TD_JOBS_MAX 16384		/* all connections' together */
#define TD_OUTQ_HIGH (4u << 20)		/* stop reading a peer past this */
#define TD_OUTQ_HIGH_RO (256u << 10)
#define TD_OUTQ_MAX (64u << 20)		/* replies a peer leaves unread */
#define TD_OUTQ_MAX_RO (4u << 20)
#define TD_NOFILE_WANT 65536		/* soft RLIMIT_NOFILE we ask for */
#define TD_IFD_FLOOR 1024		/* the server's own fds start here */
#define TD_IFD_RESERVE 8192		/* and take at most this many */
#define TD_SHUTDOWN_DEADLINE_S 5
#define TD_RING_SQ 1024
#define TD_RING_CQ 8192

/* What a completion's user_data points at. */
enum td_ev_kind {
	TD_EV_ACCEPT = 1,
	TD_EV_HANDSHAKE,
	TD_EV_CONN_IN,
	TD_EV_CONN_OUT,
	TD_EV_SIGNAL,
	TD_EV_TIMER,
	TD_EV_CAPTURE,
	TD_EV_JOB,
	TD_EV_POOL,
	TD_EV_DATA,
	TD_EV_LOG,
};

/* A handler's return: the reply comes later (WAIT, STOP, LOGS). */
#define TD_REPLY_LATER 1

struct td_event {
	enum td_ev_kind kind;
	void *obj;
};

/* Output queue of one connection: frames waiting for the socket. */
struct td_outq {
	char *buf;
	size_t head;			/* first unsent byte */
	size_t len;			/* end of queued bytes */
	size_t cap;
};

struct td_server;
struct td_conn;
struct td_xfer;
struct td_policy;
struct td_req;
struct td_job;
struct td_pool;

/* The class of a peer, from its credentials: what it may do and which
 * quotas it draws on. */
enum td_peer_role { TD_PEER_REFUSED, TD_PEER_READONLY, TD_PEER_FULL };

/* An attached controller or observer: the syscall and data sockets it
 * handed over.  Both are internal fds, closed by us when it ends. */
struct td_conn {
	struct td_conn *next;
	struct td_server *srv;
	int sfd;
	int dfd;
	pid_t peer_pid;
	uid_t peer_uid;
	enum td_peer_role role;
	uint64_t generation;
	time_t since;
	bool observer;
	bool closing;
	bool out_armed;
	unsigned inflight;		/* ring requests that point at us */
	unsigned njobs;			/* its requests answered later */
	uint64_t skip;			/* bytes of an oversized frame to drop */
	struct td_event ev_in;
	struct td_event ev_out;
	struct td_event ev_data;
	bool data_armed;
	struct td_xfer *xfer;		/* a transfer on the data socket */
	struct tp_rbuf in;
	struct td_outq out;
};

/* A connection to the listening socket that has not said HELLO yet. */
struct td_handshake {
	struct td_handshake *next;
	struct td_server *srv;
	int fd;
	pid_t peer_pid;
	uid_t peer_uid;
	enum td_peer_role role;
	bool done;
	int refuse;			/* answer this errno once HELLO is in */
	struct td_event ev;
	struct td_timer deadline;
};

struct td_label;
struct td_worker;
struct td_mem;

struct td_server {
	struct io_uring ring;
	const char *socket_path;
	char lock_path[4096];
	int listen_fd;
	int lock_fd;
	int signal_fd;
	ino_t socket_ino;
	pid_t pid;
	uid_t uid;
	bool persistent;
	bool in_process;		/* the fuzz target: see server.h */
	bool stopping;
	bool exiting;			/* the loop is over: free, don't wait */
	bool deadline_passed;		/* shutting down: stop waiting */
	bool accept_armed;
	uint64_t generation;
	struct timespec started;
	struct td_conn *controller;	/* the attached one, or NULL */
	struct td_conn *conns;		/* all, including observers */
	unsigned nobservers;
	struct td_handshake *handshakes;
	unsigned nhandshakes;
	uid_t *allow_uids;
	size_t nallow_uids;
	gid_t *allow_gids;		/* --allow-gid: full access */
	size_t nallow_gids;
	uid_t *ro_uids;			/* --read-only-uid: introspection */
	size_t nro_uids;
	struct td_policy *policy;	/* --policy, or NULL: anything goes */
	const char *policy_path;
	/* With a policy the server runs under its own seccomp filter, which
	 * every child would inherit: workers are forked by the spawner, a
	 * child started before the filter (spawner.c). */
	pid_t spawner_pid;		/* 0: none */
	int spawner_fd;			/* internal; -1: none */
	struct td_label *labels;
	unsigned nlabels;
	struct td_worker *workers;
	unsigned nworkers;		/* records, exited ones included */
	unsigned nrunning;
	uint64_t orphans_reaped;	/* adopted grandchildren we reaped */
	char state_dir[4096];		/* worker logs */
	/* requests answered later (job.c) */
	struct td_job *jobs;
	unsigned njobs;
	uint64_t job_seq;
	unsigned nring;			/* SQEs of jobs in the ring */
	unsigned nparked;
	size_t parked_bytes;
	uint64_t parked_lost;
	/* timers (timer.c) */
	struct td_timer **timers;
	unsigned ntimers;
	unsigned captimers;
	bool timer_armed;
	uint64_t timer_when;
	struct __kernel_timespec timer_ts;
	/* helper threads (pool.c) */
	struct td_pool *pool;
	unsigned nhelpers;
	struct td_mem *mems;		/* remote memory allocations */
	unsigned nmems;
	struct rlimit nofile_orig;	/* what workers get back */
	struct td_event ev_accept;
	struct td_event ev_signal;
	struct td_event ev_timer;
	struct td_event ev_pool;
	struct td_event ev_log;
	struct td_timer accept_retry;
	struct td_timer shutdown_deadline;
};

/* filter.c: the policy on the server itself (see policy.h) */
int td_policy_setup(struct td_server *srv, char *err, size_t errsz);
int td_filter_install(struct td_server *srv, char *err, size_t errsz);
int td_do_policy(struct td_req *r);
/* syscall.c: the user-space half.  0, or -errno with why[] saying which
 * rule refused (and an audit line logged).  nr, args: the call as it
 * would run. */
int td_policy_refuses(struct td_server *srv, long nr, const uint64_t a[6],
		      char *why, size_t size);
/* The same for a server op that does a syscall's work (GET opens a
 * file, KILL sends a signal): 0 or td_req_fail()'s -errno. */
int td_policy_check_op(struct td_req *r, const char *op, long nr,
		       uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);

/* spawner.c: forks workers when the server runs under a filter */
int td_spawner_start(struct td_server *srv);
void td_spawner_stop(struct td_server *srv);

/* log.c: one line per event, never blocking the loop, from any thread. */
/* The log's fd: path opened (or, NULL, a private copy of stderr), moved
 * into the internal band where controllers cannot touch it. */
int td_log_open(const char *path);
void td_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The loop: write out what is queued; arm a poll if the log is full. */
void td_log_flush(struct td_server *srv);
void td_log_event(struct td_server *srv, int res);

/* ifd.c: the server's own fds live high in the table and are recorded,
 * so controller syscalls and GC never touch them. */
int td_ifd_init(void);
/* Move fd up and record it with a role (a static string); returns the
 * new fd.  Closes fd on failure. */
int td_ifd_adopt(int fd, const char *role);
void td_ifd_close(int fd);
bool td_ifd_is(int fd);
const char *td_ifd_role(int fd);	/* NULL if not internal */
unsigned td_ifd_count(void);
/* Sorted copy of the internal fds; returns how many (<= max). */
unsigned td_ifd_list(int *out, unsigned max);
/* close_range(first, last) around the internal fds. */
int td_ifd_close_range(unsigned first, unsigned last, unsigned flags);

/* listen.c */
int td_listen_open(struct td_server *srv, char *err, size_t errsz);
void td_listen_close(struct td_server *srv);

/* loop.c */
int td_loop_init(struct td_server *srv);
int td_loop_run(struct td_server *srv);
/* One turn: the events that come within wait_ms (the fuzz target).
 * 0, or -errno if the ring failed. */
int td_loop_once(struct td_server *srv, unsigned wait_ms);
struct io_uring_sqe *td_sqe(struct td_server *srv);
void td_arm_accept(struct td_server *srv);
uint64_t td_uptime_ms(const struct td_server *srv);

/* reconnect.c: accepted connections, the HELLO handshake, attach and
 * take-over. */
void td_reconnect_accepted(struct td_server *srv, int fd);
void td_reconnect_event(struct td_handshake *hs, int res);
void td_reconnect_closeall(struct td_server *srv);
/* fd: the peer's socket, for its supplementary groups (-1: none). */
enum td_peer_role td_peer_role(const struct td_server *srv, int fd,
			       uid_t uid, gid_t gid);

/* conn.c */
struct td_conn *td_conn_new(struct td_server *srv, int sfd, int dfd);
void td_conn_event_in(struct td_conn *c, int res, bool more);
void td_conn_event_out(struct td_conn *c, int res);
void td_conn_event_data(struct td_conn *c, int res);
int td_conn_queue(struct td_conn *c, struct tp_msg *m);
void td_conn_notice(struct td_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void td_conn_close(struct td_conn *c, const char *why);
void td_conn_put(struct td_conn *c);	/* drop one inflight reference */
void td_conns_reap(struct td_server *srv);
/* How many requests c may have waiting for an answer. */
unsigned td_conn_job_quota(const struct td_conn *c);

/* ops.c: one handler per op. */
struct td_req {
	struct td_conn *conn;
	struct td_server *srv;
	uint64_t id;
	const msgpack_object *body;
	msgpack_packer *pk;		/* where the success body goes */
	char err[256];
};

int td_req_fail(struct td_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void td_dispatch(struct td_conn *c, const unsigned char *payload, size_t len);
unsigned td_count_fds(void);
void td_fds_changed(void);

/* syscall.c */
int td_do_syscall(struct td_req *r);

/* fdguard.c: calls tetherd will not run in itself. */
struct td_call;
/* Refused whatever the arguments (exit, execve, fork, wait4 ...). */
bool td_fdguard_refused(long nr, const char **why);
/* Refused with these arguments: a signal to tetherd itself, a change to
 * the signals it relies on, memory of its own. */
bool td_fdguard_refused_args(const struct td_call *c, const char **why);

/* labels.c */
void td_labels_validate(struct td_server *srv);
const char *td_label_of(const struct td_server *srv, int fd);
void td_labels_syscall_done(struct td_server *srv, long nr,
			    const uint64_t *regs, long ret);
void td_labels_free(struct td_server *srv);
int td_do_label(struct td_req *r);
int td_do_unlabel(struct td_req *r);

/* fds.c */
int td_fds_scan(int **out, size_t *n);	/* sorted, /proc/self/fd */
int td_do_list_fds(struct td_req *r);

/* gc.c */
int td_do_gc(struct td_req *r);

/* workers.c: SPAWN, PS, KILL, ACK, and reaping. */
int td_do_spawn(struct td_req *r);
int td_do_ps(struct td_req *r);
int td_do_kill(struct td_req *r);
int td_do_ack(struct td_req *r);
void td_workers_reap(struct td_server *srv);
/* A child of ours that wait4 returned and no record claimed (a spawn
 * still on its way, or an orphan). */
bool td_workers_claim_exit(struct td_server *srv, pid_t pid, int *status,
			   struct rusage *ru);
/* pid will exit and is nobody's (a failed exec): reap it quietly. */
void td_workers_expect_exit(pid_t pid);
struct td_worker *td_worker_find(struct td_server *srv,
				 const msgpack_object *target);
void td_workers_free(struct td_server *srv);
bool td_workers_stopping(const struct td_server *srv);
bool td_worker_done(const struct td_worker *w);	/* exited, output drained */
const char *td_worker_name(const struct td_worker *w);
void td_worker_pack(msgpack_packer *pk, const struct td_worker *w,
		    unsigned extra);

/* spawn.c: the child side, and what the parent prepares for it (the
 * rest in workers.h). */
struct td_spawn;
int td_spawn_prepare(struct td_req *r, const msgpack_object *body,
		     struct td_spawn **out);
void td_spawn_free(struct td_spawn *sp);
const char *td_spawn_label(const struct td_spawn *sp);
bool td_spawn_capture(const struct td_spawn *sp);
uint64_t td_spawn_log_max(const struct td_spawn *sp);
char **td_spawn_take_argv(struct td_spawn *sp, int *argc);

/* capture.c: workers' output into log files, and LOGS. */
struct td_capture;
/* The log file and the pipe; the pipe is watched from td_capture_start
 * on.  *child_fd: the write end (internal), the worker's stdout+err. */
int td_capture_open(struct td_server *srv, struct td_worker *w,
		    uint64_t log_max, int *child_fd);
void td_capture_start(struct td_capture *cap);
void td_capture_event(struct td_capture *cap, int res, bool more);
void td_capture_free(struct td_capture *cap);
bool td_capture_eof(const struct td_capture *cap);
uint64_t td_capture_size(const struct td_capture *cap);
const char *td_capture_path(const struct td_capture *cap);
/* Logical [*off, ...) into buf: bytes read, 0 at the end, -errno. */
ssize_t td_capture_read(struct td_capture *cap, uint64_t *off, char *buf,
			size_t max);

/* wait.c: WAIT, STOP with a grace period, LOGS. */
int td_do_wait(struct td_req *r);
int td_do_stop(struct td_req *r);
int td_do_logs(struct td_req *r);
void td_logs_conn_drained(struct td_conn *c);
void td_watchers_worker_gone(struct td_server *srv, struct td_worker *w);
void td_workers_stop_all(struct td_server *srv, uint64_t grace_ms);
void td_wait_worker_changed(struct td_server *srv, struct td_worker *w);

/* async.c, batch.c: calls answered later; PENDING, COLLECT, CANCEL. */
int td_do_pending(struct td_req *r);
int td_do_collect(struct td_req *r);
int td_do_cancel(struct td_req *r);
int td_do_batch(struct td_req *r);

/* data.c: transfers on the data socket; GET, PUT, GIVE, TAKE. */
int td_do_get(struct td_req *r);
int td_do_put(struct td_req *r);
int td_do_give(struct td_req *r);
int td_do_take(struct td_req *r);

/* mem.c: remote memory a controller composes syscalls in. */
int td_mem_check(struct td_server *srv, uint64_t addr, uint64_t len);
bool td_mem_overlaps(struct td_server *srv, uint64_t addr, uint64_t len);
/* Copies to and from remote memory that cannot fault; a read leaves
 * pages never written untouched (zeros, not made resident). */
int td_mem_read(void *dst, const void *src, size_t n);
int td_mem_write(void *dst, const void *src, size_t n);
int td_do_mem_alloc(struct td_req *r);
int td_do_mem_free(struct td_req *r);
int td_do_mem_list(struct td_req *r);
int td_do_mem_write(struct td_req *r);
int td_do_mem_read(struct td_req *r);
void td_mem_free_all(struct td_server *srv);

/* persist.c */
int td_persist(struct td_server *srv);

#endif
