/*
 * Inside workers/: the worker record (workers.c, capture.c, wait.c) and a
 * prepared spawn (spawn.c, spawner.c).
 */
#ifndef TETHERD_WORKER_H
#define TETHERD_WORKER_H

#include <limits.h>
#include <linux/filter.h>
#include <sys/resource.h>

#include "deferred/timer.h"
#include "tetherd.h"
#include "workers/workers.h"

#define TD_GROUPS_MAX 1024
#define TD_RLIMITS_MAX 16
#define TD_FILTER_MAX 4096		/* BPF_MAXINSNS: a worker's filter */

/* A prepared SPAWN (spawn.c), which the spawner also rebuilds from its
 * request (spawner.c). */
struct td_fdmap {
	int child;
	int server;
	/* From the request's acceptance to the clone: a copy of server in
	 * the internal band (td_spawn_fds_hold), -1 otherwise.  A GC or a
	 * close meanwhile must not hand the worker another file under the
	 * same number. */
	int held;
};

struct td_policy;

struct td_spawn {
	char **argv;
	int argc;
	char **envp;
	int envc;
	unsigned env_user_set;		/* HOME, USER, LOGNAME given in env */
	char *user;			/* --user as given, resolved later */
	int64_t opt_uid;		/* uid / gid as given, or -1 */
	int64_t opt_gid;
	char *path;			/* resolved executable */
	char *cwd;
	char *cgroup;
	char label[TETHER_LABEL_MAX + 1];
	struct td_fdmap fds[TETHER_SPAWN_FDS_MAX];
	unsigned nfds;
	struct { int res; struct rlimit rl; } rlimits[TD_RLIMITS_MAX];
	unsigned nrlimits;
	bool setsid;
	bool pgroup;
	bool capture;
	bool have_user;
	uid_t uid;
	gid_t gid;
	gid_t groups[TD_GROUPS_MAX];
	int ngroups;
	uint64_t log_max;
	struct rlimit nofile;		/* the server's original limit */
	struct sock_filter *filter;	/* the worker's own policy, or NULL */
	unsigned nfilter;		/* instructions, <= TD_FILTER_MAX */
	char home[PATH_MAX];		/* --user's, for HOME */
	char uname[256];		/* --user's, for USER and LOGNAME */
	/* Kept with the worker for PS and RESPAWN: */
	bool resolved;			/* user, env and path settled */
	char *policy_name;		/* the worker's policy, or NULL */
	/* That policy parsed, its filter not built yet: libseccomp takes
	 * seconds over a big one, so a helper builds it (resolve). */
	struct td_policy *policy_parsed;
	char policy_xxh3[17];		/* of its text, in hex */
};

/* Where a child failed before exec, for the error text. */
enum td_step {
	TD_STEP_SIGNALS = 1, TD_STEP_SESSION, TD_STEP_CGROUP, TD_STEP_RLIMIT,
	TD_STEP_FDS, TD_STEP_GROUPS, TD_STEP_GID, TD_STEP_UID, TD_STEP_CWD,
	TD_STEP_SECCOMP, TD_STEP_EXEC,
};

/* What a child that did not exec says (err 0: it did). */
struct td_spawn_report {
	int err;
	int step;			/* enum td_step */
};

/* launch.c: the child's side, system calls only, in a clone that shares
 * the caller's memory until it has exec'd (CLONE_VM | CLONE_VFORK);
 * the spawner's clones run it too (flags CLONE_PARENT). */
void td_spawn_child(const struct td_spawn *sp, int capture_fd,
		    struct td_spawn_report *rep) __attribute__((noreturn));
/* The pid once the child has exec'd or failed (rep), or -errno. */
pid_t td_spawn_clone(const struct td_spawn *sp, int capture_fd,
		     unsigned long flags, struct td_spawn_report *rep);
/* Default dispositions for every signal, the reserved ones included. */
void td_spawn_signals_default(void);

/* spawn.c, the parent's side.  Resolve the user and the executable
 * (NSS, PATH: may block), then clone or ask the spawner -- both on a
 * helper thread.  -errno with r->err set on failure; else the pid, and
 * rep says whether it exec'd. */
int td_spawn_resolve(struct td_req *r, struct td_spawn *sp);
int td_spawn_launch(struct td_req *r, const struct td_spawn *sp,
		    int capture_fd, pid_t *pid, struct td_spawn_report *rep);
/* A child's failure report, as the spawn's error. */
int td_spawn_exec_error(struct td_req *r, const struct td_spawn *sp,
			const struct td_spawn_report *rep);

/* spawner.c: the server's side of a spawn through the spawner.  The
 * worker's pid and rep, as td_spawn_launch; or -errno with r->err set. */
int td_spawner_spawn(struct td_req *r, const struct td_spawn *sp,
		     int capture_fd, pid_t *pid, struct td_spawn_report *rep);
/* A child reaped by wait4: true if it was the spawner. */
bool td_spawner_reaped(struct td_server *srv, pid_t pid, int status);

enum td_wstate { TD_W_RUNNING, TD_W_STOPPED, TD_W_EXITED, TD_W_KILLED };

struct td_worker {
	struct td_worker *next;
	struct td_server *srv;
	pid_t pid;
	pid_t pgid;
	int pidfd;			/* internal; closed once reaped */
	char label[TETHER_LABEL_MAX + 1];
	char **argv;			/* spec's */
	int argc;
	/* The SPAWN it came from, resolved: PS shows it, RESPAWN reruns
	 * it.  Bounded as the request was (a frame). */
	struct td_spawn *spec;
	bool respawning;		/* a RESPAWN of it runs */
	int64_t started_ms;		/* epoch */
	uint64_t started_mono;		/* td_now_ms() */
	enum td_wstate state;
	int exit_code;
	int signal;			/* killed by, or stopped by */
	bool core;
	int64_t ended_ms;		/* epoch, 0 while running */
	struct rusage ru;
	struct td_capture *cap;		/* captured output, or NULL */
	unsigned nwatch;		/* WAIT, STOP, LOGS jobs on it */
	/* STOP in progress */
	struct td_timer stop_timer;	/* grace, and a look at the group */
	bool stopping;
	bool stop_killed;		/* the grace ran out: SIGKILL sent */
	uint64_t stop_start;		/* td_now_ms() */
	uint64_t stop_deadline;
};

/* workers.c */
struct td_worker *td_worker_find(struct td_server *srv,
				 const struct tp_intstr *target);
/* A request's target, NULL if it was neither a pid nor a label. */
static inline const struct tp_intstr *td_target_of(const struct tp_target *t)
{
	return t->has & TP_TARGET_TARGET ? &t->target : NULL;
}
bool td_worker_done(const struct td_worker *w);	/* exited, output drained */
const char *td_worker_name(const struct td_worker *w);
/* w as a worker record (pointing into w). */
void td_worker_record(const struct td_worker *w, struct tp_worker *rec);
/* A child of ours that wait4 returned and no record claimed (a spawn
 * still on its way, or an orphan). */
bool td_workers_claim_exit(struct td_server *srv, pid_t pid, int *status,
			   struct rusage *ru);
/* pid will exit and is nobody's (a failed exec): reap it quietly. */
void td_workers_expect_exit(pid_t pid);

/* spawn.c: the child side, and what the parent prepares for it. */
int td_spawn_prepare(struct td_req *r, const msgpack_object *body,
		     struct td_spawn **out);
void td_spawn_free(struct td_spawn *sp);
const char *td_spawn_label(const struct td_spawn *sp);
bool td_spawn_capture(const struct td_spawn *sp);
uint64_t td_spawn_log_max(const struct td_spawn *sp);
/* RESPAWN: a copy to run again (resolved: no NSS, no PATH search),
 * and its fd map checked against the server's fds as they are now. */
struct td_spawn *td_spawn_dup(const struct td_spawn *sp);
/* EPERM (said) when the server's policy forbids execve. */
int td_spawn_allowed(struct td_req *r);
/* The fd map checked and held (a copy of each server fd in the band)
 * from the request to the clone; released when the spawn is done. */
int td_spawn_fds_hold(struct td_req *r, struct td_spawn *sp);
void td_spawn_fds_release(struct td_spawn *sp);
int td_spawn_fd_source(const struct td_fdmap *m);

/* spec.c: PS's view of a worker's spec and of a STOP in progress. */
void td_spec_record(const struct td_worker *w, struct tp_worker *rec);
/* A rough size of w's PS record, for the page's budget. */
size_t td_spec_size(const struct td_worker *w);

/* capture.c: workers' output into log files, and LOGS' reads. */
struct td_capture;
/* The log file and the pipe; the pipe is watched from td_capture_start
 * on.  *child_fd: the write end (internal), the worker's stdout+err. */
int td_capture_open(struct td_server *srv, struct td_worker *w,
		    uint64_t log_max, int *child_fd);
void td_capture_start(struct td_capture *cap);
/* upgrade/: a capture as the next binary needs it, and back. */
struct td_capture_state {
	int pipe_fd;
	int log_fd;
	const char *path;
	uint64_t old_base, base, size, log_max, lost;
	bool have_old;
	dev_t dev, old_dev;		/* the files as created */
	ino_t ino, old_ino;
};
void td_capture_export(const struct td_capture *cap,
		       struct td_capture_state *s);
int td_capture_import(struct td_server *srv, struct td_worker *w,
		      const struct td_capture_state *s);
/* upgrade/: a worker record rebuilt after the exec, linked in. */
void td_worker_adopt(struct td_server *srv, struct td_worker *w);
void td_capture_free(struct td_capture *cap);
bool td_capture_eof(const struct td_capture *cap);
uint64_t td_capture_size(const struct td_capture *cap);
const char *td_capture_path(const struct td_capture *cap);
/* LOGS through fds: what the log holds now from logical *off (moved
 * past bytes lost to rotation), as at most two files (the rotated one,
 * the current one) -- their paths and identities, taken on the loop, so
 * a helper can open them (td_capture_open_seg) without touching cap. */
struct td_capture_seg {
	char path[PATH_MAX + 2];
	dev_t dev;
	ino_t ino;
	uint64_t base;			/* logical offset of the file's byte 0 */
	uint64_t from, end;		/* the log's bytes in it: [from, end) */
};
int td_capture_segs(struct td_capture *cap, uint64_t *off,
		    struct td_capture_seg seg[2]);
/* A helper: the file of seg read-only, if it is still that file (the
 * same device and inode, regular; a FIFO put in its place cannot block
 * the open), else -errno. */
int td_capture_open_seg(const struct td_capture_seg *seg);
/* Logical [*off, ...) into buf: bytes read, 0 at the end, -errno. */
ssize_t td_capture_read(struct td_capture *cap, uint64_t *off, char *buf,
			size_t max);

/* wait.c */
void td_watchers_worker_gone(struct td_server *srv, struct td_worker *w);
void td_wait_worker_changed(struct td_server *srv, struct td_worker *w);

#endif
