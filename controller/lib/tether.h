/*
 * libtether: drive a persistent tetherd syscall server.
 *
 * Conventions (libtether(3), CONVENTIONS), the same for every function:
 *
 * - The return value is the library's status and nothing else: 0 (or a
 *   non-negative value the function documents, such as an fd number in
 *   the server) on success, a negative errno when the library failed --
 *   transport, protocol, the server refused the request, the policy.
 * - A syscall's own outcome is its result, never the return value: it
 *   is in call->ret, or in the `long *ret` of tether_syscall() and of
 *   the typed helpers, the kernel's way (the value, or -errno).
 * - What the library allocates for the caller is one block, released
 *   with tether_free(); no public structure says who owns what.
 * - Option structures begin with their size (.struct_size = sizeof, or
 *   the *_INIT macros); 0 means the layout of libtether.so.1, so fields
 *   added later never change what an older caller asked for.
 */
#ifndef TETHER_H
#define TETHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tether;

/* Release what the library allocated for the caller (every array and
 * record it hands out is one block).  NULL is fine. */
void tether_free(void *p);

/* ---- starting and connecting ------------------------------------- */

struct tether_start_opts {
	size_t struct_size;		/* sizeof, or 0: the 1.0 layout */
	const char *socket_path;	/* NULL: tether_default_socket() */
	const char *tetherd;		/* NULL: $TETHERD, else installed path */
	const char *log_path;		/* NULL: server logs to our stderr */
	const char *const *extra_args;	/* more tetherd options, NULL-ended */
	const char *policy;		/* tetherd --policy FILE, or NULL */
};
#define TETHER_START_OPTS_INIT \
	{ .struct_size = sizeof(struct tether_start_opts) }

/* Launch tetherd as our child (dies with us until made persistent),
 * wait until it listens, and attach to it. */
int tether_start(const struct tether_start_opts *opts, struct tether **out);

#define TETHER_CONNECT_TAKEOVER 0x1u	/* replace an attached controller */
#define TETHER_CONNECT_OBSERVE 0x2u	/* read-only, alongside a controller */
/* Return once the HELLO is sent (after the directory and SO_PEERCRED
 * checks), not after its answer: the first request goes out right
 * behind it, one round trip saved.  The answer is read before the
 * first reply, and a refusal is then that operation's failure, with
 * tether_connect's errno, text and cause; tether_connect_finish reads
 * it at any time.  Ignored for ssh:// connections.  Since libtether
 * 1.2 (TETHER_1.2); see libtether(3), PIPELINED CONNECT. */
#define TETHER_CONNECT_PIPELINE 0x4u

/* Attach to a running server: make the syscall and data socket pairs,
 * pass the server's ends over the listening socket with SCM_RIGHTS.
 * The socket's directory and every parent must belong to us or root,
 * and so must the listening server (SO_PEERCRED), or -EACCES before
 * anything is sent.  A busy server (EAGAIN) is retried for ~2 s. */
int tether_connect(const char *socket_path, unsigned flags,
		   struct tether **out);

#define TETHER_UID_NONE ((uid_t)-1)	/* tether_connect_uid: nobody more */

/* tether_connect trusting server_uid too, for the directories and the
 * server: to talk to another user's tetherd on purpose. */
int tether_connect_uid(const char *socket_path, unsigned flags,
		       uid_t server_uid, struct tether **out);

/* A server named by URL (libtether(3), REMOTE CONNECTIONS):
 * unix://PATH (NULL or "unix://": the default) is tether_connect_uid;
 * ssh://[USER@]HOST[:PORT][/SOCKET] runs the ssh on PATH with
 * `tetherctl dial-stdio [-s SOCKET]` on HOST ($TETHER_REMOTE_TETHERCTL
 * names another program) and relays the connection over it.  Such a
 * handle cannot pass fds (tether_give, tether_take: -EOPNOTSUPP).
 * Since libtether 1.2 (TETHER_1.2). */
int tether_connect_url(const char *url, unsigned flags, uid_t server_uid,
		       struct tether **out);

/* The far end of an ssh:// connection (tetherctl dial-stdio): read the
 * controller's OPEN on in, attach to the tetherd at socket_path (NULL:
 * the default) trusting server_uid too (unless OPEN names one), answer
 * on out, relay until either side ends.  0 when the stream or the
 * server ended it; -EPROTO for a frame that breaks the rules; the
 * connect's -errno when attaching failed (the controller was told);
 * -ECONNRESET if the stream ended before OPEN.  tether_last_error(NULL)
 * says why.  SIGPIPE is ignored from then on.  Since libtether 1.2. */
int tether_dial_stdio(const char *socket_path, uid_t server_uid, int in,
		      int out);

/* The HELLO's verdict on a TETHER_CONNECT_PIPELINE handle, waiting
 * for it if it has not been read: 0 attached, or the refusal as
 * tether_connect would have returned it (-EBUSY, -EACCES, ...: the
 * handle then fails every call so).  After an attempt the server
 * refused as busy (EAGAIN), or that an older server refused for its
 * flags, it attaches again as tether_connect does and sends again
 * what went out behind the HELLO.  -EINTR if the interrupt fd became
 * readable first (ask again).  0 at once for any other handle.  Since
 * libtether 1.2 (TETHER_1.2). */
int tether_connect_finish(struct tether *t);

/* Detach and free.  The server, its fds and children stay. */
void tether_disconnect(struct tether *t);

/* setsid() and clear PDEATHSIG in the server: it now outlives us. */
int tether_make_persistent(struct tether *t);

/* Ask the server to exit; the handle is still to be disconnected. */
int tether_shutdown(struct tether *t);

int tether_default_socket(char *buf, size_t size);

/* The syscall policy the server enforces (tetherd --policy): rules as
 * the server resolved them, one readable line each. */
struct tether_policy {
	bool active;			/* false: no policy, anything goes */
	const char *path;		/* the policy file, as tetherd was given */
	const char *default_rule;	/* "default: deny EPERM" */
	const char *const *rules;	/* "3: allow openat (257) if ..." */
	size_t nrules;
};
/* *out: one block (tether_free). */
int tether_policy(struct tether *t, struct tether_policy **out);

/* The server's explanation of the last failure on this handle, or "". */
const char *tether_last_error(const struct tether *t);

/* 1 if this handle lost its connection to a take-over (its calls then
 * fail with -ECONNABORTED), with the new controller's pid and uid (each
 * may be NULL); 0 if not, or if the server's notice never arrived. */
int tether_taken_over(const struct tether *t, pid_t *pid, uid_t *uid);
/* Why the last request on this handle failed (t NULL: the last connect
 * of this thread), for callers that must tell a refusal from a failure.
 * Since libtether 1.1 (TETHER_1.1); see libtether(3). */
enum tether_cause {
	TETHER_CAUSE_NONE = 0,		/* no failure, or none the server named */
	TETHER_CAUSE_SYSCALL,		/* the syscall ran and failed (ret) */
	TETHER_CAUSE_REQUEST,		/* the server refused the request itself */
	TETHER_CAUSE_POLICY,		/* the server's policy refused it */
	TETHER_CAUSE_ROLE,		/* observer or read-only: not allowed */
	TETHER_CAUSE_TIMEOUT,		/* the request's own timeout ran out */
	TETHER_CAUSE_CONFLICT,		/* another controller is attached */
	TETHER_CAUSE_CONNECTION,	/* no server, or the connection was lost */
};
int tether_last_cause(const struct tether *t);

/* ---- what the handshake learned, and status ---------------------- */

struct tether_status {
	pid_t pid;
	uint64_t generation;		/* increases on every attach */
	bool persistent;
	bool attached;			/* a controller is attached */
	pid_t controller_pid;		/* that controller, or 0 */
	int64_t controller_since;	/* when it attached (epoch seconds) */
	uint64_t uptime_ms;
	unsigned nfds;			/* fds in the server, internal excluded */
	unsigned ninternal;		/* the server's own fds */
	unsigned nlabels;
	unsigned nchildren;		/* workers running */
	unsigned nworkers;		/* worker records, ended ones included */
	int syscall_fd;			/* our connection's fds in the server */
	int data_fd;
	bool observer;			/* this handle is read-only */
};

/* What the server said when we attached. */
const struct tether_status *tether_info(const struct tether *t);
int tether_status(struct tether *t, struct tether_status *st);

/* Our end of the data socket (GET/PUT chunks, MEM_*, GIVE/TAKE): for
 * tests and tools that speak the chunk protocol themselves.  Reading or
 * writing it outside a transfer desynchronises the stream. */
int tether_data_fd(const struct tether *t);

/* ---- syscalls ----------------------------------------------------- */

enum tether_arg_kind {
	TETHER_ARG_INT = 0,		/* value */
	TETHER_ARG_IN,			/* in[0..size) copied to the server */
	TETHER_ARG_OUT,			/* server allocates size bytes */
	TETHER_ARG_INOUT,		/* in[0..size) there, out[0..cap) back */
	TETHER_ARG_STR,			/* NUL-terminated string at in */
	TETHER_ARG_RESULT,		/* tether_batch: entry `value`'s result */
};

struct tether_arg {
	enum tether_arg_kind kind;
	uint64_t value;
	const void *in;
	void *out;
	size_t size;			/* IN/INOUT: bytes sent; OUT: capacity */
	size_t cap;			/* INOUT: capacity of out, >= size */
	size_t returned;		/* OUT/INOUT: bytes the server sent back */
};

#define TETHER_INT(v) \
	((struct tether_arg){ .kind = TETHER_ARG_INT, .value = (uint64_t)(v) })
#define TETHER_IN(p, n) \
	((struct tether_arg){ .kind = TETHER_ARG_IN, .in = (p), .size = (n) })
#define TETHER_OUT(p, n) \
	((struct tether_arg){ .kind = TETHER_ARG_OUT, .out = (p), .size = (n) })
#define TETHER_INOUT(p, n, c) \
	((struct tether_arg){ .kind = TETHER_ARG_INOUT, .in = (p), \
			      .out = (p), .size = (n), .cap = (c) })
#define TETHER_STR(s) \
	((struct tether_arg){ .kind = TETHER_ARG_STR, .in = (s) })

#define TETHER_CALL_TRIM 0x1u		/* trim the first out buffer to ret */
#define TETHER_CALL_NOTRIM 0x2u		/* return out buffers whole */
#define TETHER_CALL_ASYNC 0x4u		/* return an id at once: tether_collect */
#define TETHER_CALL_DETACH_CANCEL 0x8u	/* cancel, not park, if we detach */
#define TETHER_CALL_SYNC 0x10u		/* never through the server's ring */

struct tether_call {
	long nr;			/* syscall number (this architecture) */
	unsigned nargs;			/* <= 6 */
	struct tether_arg args[6];
	unsigned flags;
	uint64_t timeout_ms;		/* > 0: the server gives up (-ETIMEDOUT) */
	long ret;			/* the syscall's result or -errno */
	uint64_t async_id;		/* TETHER_CALL_ASYNC: what to collect */
};

/* Run one syscall in the server.  0 when the server ran it (its result,
 * success or -errno, is in call->ret); a negative errno when the request
 * never ran (protocol, transport or policy error). */
int tether_call(struct tether *t, struct tether_call *call);

/* A request's result, now or when it completes (wait_ms -1: as long as
 * it takes, 0: not at all), into call: its out buffers are copied to
 * call's (call->nargs 0: the result only).  A parked BATCH gives nr -1
 * and ret = the number of entries that ran. */
int tether_collect(struct tether *t, uint64_t id, int64_t wait_ms,
		   struct tether_call *call);
/* The same for a caller that does not know the call (a new controller,
 * a debugging session): the whole record -- number, arguments, in and
 * out buffers, result -- as one block (tether_free). */
int tether_collect_record(struct tether *t, uint64_t id, int64_t wait_ms,
			  struct tether_call **out);

/* One entry of a collected BATCH: its result, and the bytes of each out
 * buffer it returned (out[i] NULL where argument i was none).  Since
 * libtether 1.1. */
struct tether_batch_result {
	long ret;			/* the result or -errno (-ECANCELED:
					 * did not run) */
	unsigned nargs;
	const void *out[6];
	size_t out_len[6];
};
/* tether_collect_record, and for a BATCH (out->nr -1) its entries too:
 * *results, one block (tether_free) of *n, and *stopped_at, the entry
 * TETHER_BATCH_STOP stopped at or -1.  For a call: NULL, 0 and -1.
 * Since libtether 1.1. */
int tether_collect_batch(struct tether *t, uint64_t id, int64_t wait_ms,
			 struct tether_call **out,
			 struct tether_batch_result **results, size_t *n,
			 int *stopped_at);
int tether_cancel(struct tether *t, uint64_t id);

struct tether_pending {
	uint64_t id;
	long nr;			/* -1 for a BATCH */
	char state[16];			/* running, done, lost */
	int64_t since_ms;		/* epoch */
	uint64_t generation;		/* of the controller that asked */
	bool batch;
	bool waited;			/* someone waits for the answer */
};

/* *v: one block (tether_free). */
int tether_pending(struct tether *t, struct tether_pending **v, size_t *n);

#define TETHER_BATCH_STOP 0x1u		/* stop at the first failure */

/* Run calls[0..n) in order in one round trip; TETHER_ARG_RESULT
 * arguments take an earlier entry's result.  *stopped_at: the failing
 * entry with TETHER_BATCH_STOP, else -1. */
int tether_batch(struct tether *t, struct tether_call *calls, size_t n,
		 unsigned flags, int *stopped_at);

/* ---- many calls at once: submit, then reap ------------------------- */

#define TETHER_SUBMIT_MAX 1024u		/* calls of one submit, and one reap */

/* Start calls[0..n) in one frame, side by side, each run as a
 * TETHER_CALL_ASYNC call would be; calls[i].async_id gets its id.  The
 * calls and their out buffers must stay valid until tether_reap hands
 * them back.  flags: 0.  0, or -errno with none started.  Since
 * libtether 1.2 (TETHER_1.2); see libtether(3). */
int tether_submit_many(struct tether *t, struct tether_call *calls,
		       size_t n, unsigned flags);
/* Up to max of the calls this handle submitted that have completed, in
 * the order they completed, once at least min have (or as many as are
 * still out, if fewer), or whatever did within wait_ms (-1: as long as
 * it takes, 0: no wait).  done[k] is the call as submitted, its ret and
 * out buffers filled.  The number in done[], or -errno.  Since 1.2. */
int tether_reap(struct tether *t, struct tether_call **done, size_t max,
		size_t min, int64_t wait_ms);
/* Calls submitted on this handle and not reaped yet.  Since 1.2. */
size_t tether_submitted(const struct tether *t);

/* tether_call() in one line: *ret gets the syscall's result or -errno
 * (ret may be NULL). */
int tether_syscall(struct tether *t, long nr, unsigned nargs,
		   struct tether_arg *args, long *ret);

/* Typed helpers: the library's status as the return value, the
 * syscall's result or -errno in *ret (may be NULL).  An fd they create
 * is held by the handle, one they close released. */
int tether_getpid(struct tether *t, long *ret);
int tether_openat(struct tether *t, int dirfd, const char *path, int flags,
		  mode_t mode, long *ret);
int tether_read(struct tether *t, int fd, void *buf, size_t count,
		long *ret);
int tether_write(struct tether *t, int fd, const void *buf, size_t count,
		 long *ret);
int tether_close(struct tether *t, int fd, long *ret);
/* fds[] is written only when *ret is 0. */
int tether_pipe2(struct tether *t, int fds[2], int flags, long *ret);
int tether_dup3(struct tether *t, int oldfd, int newfd, int flags,
		long *ret);
int tether_lseek(struct tether *t, int fd, off_t off, int whence,
		 long *ret);

/* ---- what the server holds: fds, labels, garbage collection ------- */

struct tether_fdinfo {
	int fd;
	char kind[16];			/* regular, directory, pipe, socket, ... */
	char target[1025];		/* the /proc/self/fd link */
	int flags;			/* F_GETFL */
	bool cloexec;
	bool internal;			/* the server's own fd */
	char label[256];		/* "" when unlabeled */
	char family[16];		/* sockets: unix, inet, inet6, ... */
	char socktype[16];		/* sockets: stream, dgram, seqpacket */
	char role[32];			/* internal fds: listen, io_uring, ... */
};

/* Every fd of the server; *internal gets the server's own (may be NULL).
 * Each array is one block (tether_free). */
int tether_list_fds(struct tether *t, struct tether_fdinfo **fds,
		    size_t *nfds, struct tether_fdinfo **internal,
		    size_t *ninternal);
int tether_label(struct tether *t, int fd, const char *name);
int tether_unlabel(struct tether *t, const char *name);
/* The fd a label names now, or -ENOENT. */
int tether_fd_by_label(struct tether *t, const char *name);

#define TETHER_GC_DRY_RUN 0x1u		/* report, close nothing */

/* Close every fd that is not internal, not 0-2, not labeled and not in
 * keep[].  *closed (tether_free) lists what was (or would be) closed. */
int tether_gc(struct tether *t, const int *keep, size_t nkeep,
	      unsigned flags, int **closed, size_t *nclosed);
/* The same, keeping every fd this handle holds. */
int tether_gc_held(struct tether *t, unsigned flags, int **closed,
		   size_t *nclosed);

/* The handle table: fds this controller owns in the server.  The typed
 * helpers hold the fds they create and release the ones they close. */
int tether_fd_hold(struct tether *t, int fd);
int tether_fd_release(struct tether *t, int fd);
bool tether_fd_held(const struct tether *t, int fd);
size_t tether_fds_held(const struct tether *t, int *out, size_t max);

/* Attach after a crash: tether_connect(), then hold every labeled fd,
 * the handles a restarted controller can re-derive. */
int tether_reconnect(const char *socket_path, unsigned flags,
		     struct tether **out);

/* ---- workers ------------------------------------------------------ */

struct tether_rlimit {
	int resource;			/* RLIMIT_* */
	uint64_t soft;
	uint64_t hard;
};

struct tether_spawn {
	size_t struct_size;		/* sizeof, or 0: the 1.0 layout */
	const char *const *argv;	/* NULL-ended; argv[0] searched in PATH */
	const char *const *env;		/* "K=V", NULL-ended; added to the
					 * allow-listed PATH HOME LANG ... */
	bool clear_env;			/* start from nothing but env */
	const char *cwd;
	const char *label;		/* a name that survives reconnects */
	bool capture;			/* stdout+stderr into a server log */
	uint64_t log_max;		/* rotate past this many bytes (0: 64 MiB) */
	const int (*fds)[2];		/* [child_fd, server_fd] pairs */
	size_t nfds;
	bool setsid;			/* new session (else new process group) */
	const char *user;		/* name or uid: uid, gid, all groups */
	const char *cgroup;		/* cgroup v2 directory to join */
	const struct tether_rlimit *rlimits;
	size_t nrlimits;
	const char *policy;		/* path of a policy file (read here,
					 * enforced on the worker) */
};
#define TETHER_SPAWN_INIT { .struct_size = sizeof(struct tether_spawn) }

enum tether_wstate {
	TETHER_W_RUNNING,
	TETHER_W_STOPPED,
	TETHER_W_EXITED,
	TETHER_W_KILLED,
};

struct tether_worker {
	pid_t pid;
	char label[256];
	const char *const *argv;	/* NULL-ended (tether_ps); else NULL */
	enum tether_wstate state;
	int exit_code;			/* TETHER_W_EXITED */
	int signal;			/* TETHER_W_KILLED or _STOPPED */
	bool core;
	int64_t started_ms;		/* epoch milliseconds */
	int64_t ended_ms;		/* 0 while it runs */
	uint64_t utime_us;
	uint64_t stime_us;
	long maxrss_kb;
	bool captured;
	uint64_t log_size;
	bool timeout;			/* tether_wait: timed out, still runs */
	bool sigkill;			/* tether_stop: the grace ran out */
	uint64_t after_ms;		/* tether_stop: how long it took */
};

/* Targets name a worker by label, or by pid in decimal. */
int tether_spawn(struct tether *t, const struct tether_spawn *sp,
		 pid_t *pid);
/* *workers: one block, argv strings included (tether_free). */
int tether_ps(struct tether *t, struct tether_worker **workers, size_t *n);
/* timeout_ms: -1 forever, 0 just look. */
int tether_wait(struct tether *t, const char *target, int64_t timeout_ms,
		struct tether_worker *out);
int tether_kill(struct tether *t, const char *target, int sig);
/* SIGTERM to the worker's process group, SIGKILL after grace_ms. */
int tether_stop(struct tether *t, const char *target, int64_t grace_ms,
		struct tether_worker *out);
/* Forget an exit record (and delete its logs). */
int tether_ack(struct tether *t, const char *target);
/* Captured output from byte offset `from`; with follow, until the worker
 * has ended and all its output is read.  cb returning non-zero stops the
 * stream the only way a stream can stop: by ending this connection, so
 * the handle can make no more requests (tether_disconnect it). */
int tether_logs(struct tether *t, const char *target, uint64_t from,
		bool follow,
		int (*cb)(const void *data, size_t len, uint64_t offset,
			  void *arg),
		void *arg);
/* Shut down even with workers running: they get SIGTERM, then SIGKILL. */
int tether_shutdown_force(struct tether *t);

/* ---- workers, 1.1: what the server keeps of each ------------------- */

/* An fd map entry: the worker's fd, the server fd it is a copy of, and
 * that fd's label now (NULL if none). */
struct tether_worker_fd {
	int child_fd;
	int server_fd;
	const char *label;
};

/* A worker record (tether_ps_ex) with the SPAWN the server keeps for it,
 * resolved: what tether_respawn() runs again.  A new struct rather than
 * a longer tether_worker, whose size 1.0 callers compiled in. */
struct tether_worker_ex {
	struct tether_worker w;		/* as tether_ps() fills it (a
					 * stopping worker reads as running) */
	bool stopping;			/* live, and a STOP's grace runs */
	int64_t stop_deadline_ms;	/* ms until its SIGKILL; 0 once sent */
	int stop_signal;		/* what STOP sent last: SIGTERM, then
					 * SIGKILL; 0: no STOP runs.  Set
					 * until the stop is over, which may
					 * outlast the leader (its group) */
	bool has_spec;			/* the rest is there (servers >= 1.1) */
	bool argv_truncated;		/* w.argv lacks entries (> 512 KiB) */
	const char *const *env;		/* "K=V", the whole environment */
	bool env_truncated;
	const char *path;		/* the executable, as PATH resolved */
	const char *cwd;		/* NULL: the server's */
	const char *user;		/* --user as given, or NULL */
	uid_t uid;			/* what it runs as */
	gid_t gid;
	const gid_t *groups;		/* supplementary (with --user) */
	size_t ngroups;
	bool setsid;
	bool pgroup;
	const char *cgroup;		/* or NULL */
	const struct tether_worker_fd *fds;
	size_t nfds;
	const struct tether_rlimit *rlimits;
	size_t nrlimits;
	const char *policy_name;	/* the worker's own policy, or NULL */
	const char *policy_xxh3;	/* XXH3-64 of its text, 16 hex digits */
	bool capture;
	uint64_t log_max;
	const char *log;		/* the capture's file, or NULL */
};

/* Every record, its spec and its strings in one block (tether_free). */
int tether_ps_ex(struct tether *t, struct tether_worker_ex **workers,
		 size_t *n);
/* What tether_respawn() started.  The caller sets struct_size (the
 * _INIT macro); the library fills no more than that. */
struct tether_respawned {
	size_t struct_size;
	pid_t pid;			/* the new worker */
	pid_t respawned_from;		/* the record it replaced */
	char label[256];		/* its label, "" if none */
};
#define TETHER_RESPAWNED_INIT \
	{ .struct_size = sizeof(struct tether_respawned) }

/* Start an ended worker (exited or killed, its record not acknowledged)
 * again from its kept spec, with its label; its old record, and logs,
 * are replaced once the new one runs.  -EBUSY if it still runs, -EBADF
 * if a server fd of its fd map is no longer open.  out may be NULL. */
int tether_respawn(struct tether *t, const char *target,
		   struct tether_respawned *out);

/* ---- the data socket: files, remote memory, fds ------------------- */

struct tether_xfer {
	size_t struct_size;		/* sizeof, or 0: the 1.0 layout */
	/* in */
	void (*progress)(uint64_t done, uint64_t total, void *arg);
	void *progress_arg;
	/* out (size in, for tether_put's progress total) */
	int64_t size;			/* GET: the file's size */
	uint64_t bytes;			/* what passed here */
	uint64_t remote_bytes;		/* what the server counted */
	uint64_t local_xxh3;		/* XXH3-64 of the bytes, both ends */
	uint64_t remote_xxh3;
};
#define TETHER_XFER_INIT { .struct_size = sizeof(struct tether_xfer) }

/* Stream a server file to fd, in 1 MiB chunks; -EIO if the checksums
 * of the two ends differ. */
int tether_get(struct tether *t, const char *remote, int fd,
	       struct tether_xfer *info);
/* Stream fd to a server file, atomically: readers see the old file or
 * the whole new one; a transfer that dies leaves no file. */
int tether_put(struct tether *t, int fd, const char *remote, int mode,
	       struct tether_xfer *info);

/* A duplicate of the server's fd, here (close-on-exec). */
int tether_give(struct tether *t, int fd);
/* Our fd into the server's table (optionally labeled); its number
 * there, held by this handle. */
int tether_take(struct tether *t, int fd, const char *label);

struct tether_mem {
	uint64_t addr;
	uint64_t size;
	uint64_t generation;		/* of the controller that allocated */
};

/* Remote memory: addresses in the server, for syscalls that take
 * pointers.  Outside a live allocation: -EFAULT, never dereferenced. */
int tether_mem_alloc(struct tether *t, uint64_t size, uint64_t *addr);
int tether_mem_free(struct tether *t, uint64_t addr);
int tether_mem_write(struct tether *t, uint64_t addr, const void *buf,
		     size_t len);
int tether_mem_read(struct tether *t, uint64_t addr, void *buf, size_t len);
/* *v: one block (tether_free). */
int tether_mem_list(struct tether *t, struct tether_mem **v, size_t *n);

/* libtether 1.1.  While fd >= 0, every wait of this handle for the
 * server's answer also watches fd: once it is readable the wait ends
 * with -EINTR ("interrupted"), the request left to the server (its late
 * answer is skipped; cancel a call with tether_pending + tether_cancel).
 * The library never reads fd: a self-pipe a SIGINT handler writes to,
 * drained by the caller, makes Ctrl-C interrupt a blocking call, wait or
 * logs follow.  fd -1 turns it off.  0, or -EINVAL. */
int tether_set_interrupt_fd(struct tether *t, int fd);

/* ---- live upgrade (libtether 1.2) --------------------------------- */

struct tether_upgrade_result {
	size_t struct_size;		/* sizeof, set by the caller */
	pid_t pid;			/* the server's, before and after */
	unsigned upgrades;		/* execs the server has survived */
	char from_version[64];		/* the binary that ran */
	char to_version[64];		/* the binary that runs now */
	char error[256];		/* why it failed, as the server says */
};

/* Have the server exec binary (NULL: the path it was started from) in
 * its own process -- the pid, the workers, every fd and label and
 * parked result stay -- and wait up to timeout_ms (<= 0: 30 s) for it
 * to serve again.  The server closes t's connection first: t attaches
 * again, in place, with socket_path and flags (the fds it holds stay
 * held).  0 once the new binary has resumed; -ENOEXEC if the old one
 * still runs (res->error says why), -ETIMEDOUT if no server answered
 * in time (t is then detached), -ENOTSUP under a policy or from a
 * server too old to upgrade. */
int tether_upgrade(struct tether *t, const char *socket_path,
		   unsigned flags, const char *binary, int64_t timeout_ms,
		   struct tether_upgrade_result *res);

/* ---- what STATUS says beyond struct tether_status (libtether 1.3) -- */

/* -1 (or "") where the server does not say: an older one. */
struct tether_status_ex {
	size_t struct_size;		/* sizeof, set by the caller */
	char server_version[64];	/* the running binary's version */
	char arch[32];			/* its system call ABI, "x86_64" */
	char binary[4096];		/* what UPGRADE execs by default */
	int64_t upgrades;		/* execs this process survived */
	int64_t upgrade_failures;	/* UPGRADEs that did not happen */
	char upgrade_error[256];	/* why the last one failed, or "" */
	int64_t observers;		/* read-only connections */
	int64_t helpers;		/* helper threads */
	int64_t helpers_busy;		/* of them, running a job */
	int64_t helpers_syscalls;	/* of those, a controller's call */
	int64_t jobs;			/* requests answered later */
	int64_t fd_limit;		/* the server's RLIMIT_NOFILE (-1: */
	int64_t fd_limit_max;		/*   unlimited, or not said) */
	int64_t spare_fds;		/* slots kept for a rescuing attach */
};

/* tether_status(), and the rest of the server's answer into ex (NULL:
 * none), no more of it than ex->struct_size says.  0, or -errno. */
int tether_status_ex(struct tether *t, struct tether_status *st,
		     struct tether_status_ex *ex);

#ifdef __cplusplus
}
#endif

#endif
