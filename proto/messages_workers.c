/*
 * Workers: SPAWN and its parts, the worker record PS lists and WAIT and
 * STOP answer with, KILL, LOGS, ACK.
 */
#include <errno.h>

#include "messages.h"
#include "messages_table.h"

/* ---- SPAWN -------------------------------------------------------------- */

/* [child_fd, server_fd] and [resource, soft, hard]: the server unpacks
 * each entry itself, and answers EINVAL for a bad one. */
static const struct tp_field tp_spawn_fd_f[] = {
	TP_FIELD(tp_spawn_fd, "child_fd", child, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_spawn_fd, "server_fd", server, TP_F_I64, TP_REQ, 0),
};
TP_ARRAY_DESC(spawn_fd, "SPAWN fd", tp_spawn_fd, tp_spawn_fd_f, 2);

static const struct tp_field tp_spawn_rlimit_f[] = {
	TP_FIELD(tp_spawn_rlimit, "resource", resource, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_spawn_rlimit, "soft", soft, TP_F_REG, TP_REQ, 0),
	TP_FIELD(tp_spawn_rlimit, "hard", hard, TP_F_REG, TP_REQ, 0),
};
TP_ARRAY_DESC(spawn_rlimit, "SPAWN rlimit", tp_spawn_rlimit,
	      tp_spawn_rlimit_f, 3);

/* A boolean of another type keeps its default (tether-protocol(7));
 * the lists' entries are the server's to check. */
static const struct tp_field tp_spawn_f[] = {
	TP_LIST(tp_spawn, TP_K_ARGV, argv, TP_F_CSTR, TP_REQ | TP_DEFER, 0,
		NULL),
	TP_FIELD(tp_spawn, TP_K_CLEAR_ENV, clear_env, TP_F_BOOL, TP_LAX,
		 TP_SPAWN_CLEAR_ENV),
	TP_FIELD(tp_spawn, TP_K_CAPTURE, capture, TP_F_BOOL, TP_LAX,
		 TP_SPAWN_CAPTURE),
	TP_FIELD(tp_spawn, TP_K_SETSID, setsid, TP_F_BOOL, TP_LAX,
		 TP_SPAWN_SETSID),
	TP_FIELD(tp_spawn, TP_K_PGROUP, pgroup, TP_F_BOOL, TP_LAX,
		 TP_SPAWN_PGROUP),
	TP_LIST(tp_spawn, TP_K_ENV, env, TP_F_CSTR, TP_DEFER, TP_SPAWN_ENV,
		NULL),
	TP_FIELD(tp_spawn, TP_K_CWD, cwd, TP_F_STR, 0, TP_SPAWN_CWD),
	TP_FIELD(tp_spawn, TP_K_LABEL, label, TP_F_STR, 0, TP_SPAWN_LABEL),
	TP_FIELD(tp_spawn, TP_K_LOG_MAX, log_max, TP_F_U64, 0,
		 TP_SPAWN_LOG_MAX),
	TP_LIST(tp_spawn, TP_K_FDS, fds, TP_F_MSG, TP_DEFER, TP_SPAWN_FDS,
		&tp_spawn_fd_desc),
	TP_FIELD(tp_spawn, TP_K_USER, user, TP_F_STR, 0, TP_SPAWN_USER),
	TP_FIELD(tp_spawn, TP_K_UID, uid, TP_F_I64, 0, TP_SPAWN_UID),
	TP_FIELD(tp_spawn, TP_K_GID, gid, TP_F_I64, 0, TP_SPAWN_GID),
	TP_FIELD(tp_spawn, TP_K_CGROUP, cgroup, TP_F_STR, 0, TP_SPAWN_CGROUP),
	TP_LIST(tp_spawn, TP_K_RLIMITS, rlimits, TP_F_MSG, TP_DEFER,
		TP_SPAWN_RLIMITS, &tp_spawn_rlimit_desc),
	TP_FIELD(tp_spawn, TP_K_POLICY, policy, TP_F_STR, 0, TP_SPAWN_POLICY),
	TP_FIELD(tp_spawn, TP_K_POLICY_NAME, policy_name, TP_F_STR, 0,
		 TP_SPAWN_POLICY_NAME),
};
/* Its errors are EINVAL, as the manual has always said. */
const struct tp_desc tp_spawn_desc = {
	.name = "SPAWN", .shape = TP_MAP, .err = EINVAL,
	.nfields = TP_NFIELDS(tp_spawn_f), .size = sizeof(struct tp_spawn),
	.f = tp_spawn_f,
};

static const struct tp_field tp_spawn_reply_f[] = {
	TP_FIELD(tp_spawn_reply, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_spawn_reply, TP_K_LABEL, label, TP_F_STR, TP_REQ | TP_NIL,
		 0),
	TP_FIELD(tp_spawn_reply, TP_K_LOG, log, TP_F_STR, TP_REQ | TP_NIL, 0),
};
TP_MAP_DESC(spawn_reply, "SPAWN reply", tp_spawn_reply, tp_spawn_reply_f);

/* ---- PS and the worker record ------------------------------------------ */

static const struct tp_field tp_ps_f[] = {
	TP_FIELD(tp_from, "from", ufrom, TP_F_U64, 0, TP_FROM_FROM),
};
TP_ARRAY_DESC(ps, "PS", tp_from, tp_ps_f, 0);

static const struct tp_field tp_ps_reply_f[] = {
	TP_LIST(tp_ps_reply, TP_K_WORKERS, workers, TP_F_MSG, TP_REQ, 0,
		&tp_worker_desc),
	TP_FIELD(tp_ps_reply, TP_K_ORPHANS_REAPED, orphans_reaped, TP_F_I64,
		 TP_REQ, 0),
	TP_FIELD(tp_ps_reply, TP_K_NEXT, next, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(ps_reply, "PS reply", tp_ps_reply, tp_ps_reply_f);

/* The record, as PS lists it; WAIT and STOP add to it. */
#define TP_WORKER_FIELDS                                                      \
	TP_FIELD(tp_worker, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),              \
	TP_FIELD(tp_worker, TP_K_LABEL, label, TP_F_STR, TP_REQ | TP_NIL, 0), \
	TP_LIST(tp_worker, TP_K_ARGV, argv, TP_F_CSTR, TP_REQ, 0, NULL),      \
	TP_FIELD(tp_worker, TP_K_ARGV_TRUNCATED, argv_truncated, TP_F_BOOL,   \
		 TP_REQ, 0),                                                  \
	TP_FIELD(tp_worker, TP_K_STARTED, started, TP_F_I64, TP_REQ, 0),      \
	TP_FIELD(tp_worker, TP_K_PGID, pgid, TP_F_I64, TP_REQ, 0),            \
	TP_FIELD(tp_worker, TP_K_CAPTURED, captured, TP_F_BOOL, TP_REQ, 0),   \
	TP_FIELD(tp_worker, TP_K_LOG_SIZE, log_size, TP_F_I64, TP_REQ, 0),    \
	TP_FIELD(tp_worker, TP_K_STATE, state, TP_F_STR, TP_REQ, 0),          \
	TP_FIELD(tp_worker, TP_K_EXIT_CODE, exit_code, TP_F_I64,              \
		 TP_REQ | TP_NIL, TP_WORKER_EXIT_CODE),                       \
	TP_FIELD(tp_worker, TP_K_SIGNAL, signal, TP_F_I64, TP_REQ | TP_NIL,   \
		 TP_WORKER_SIGNAL),                                           \
	TP_FIELD(tp_worker, TP_K_CORE, core, TP_F_BOOL, TP_REQ, 0),           \
	TP_FIELD(tp_worker, TP_K_ENDED, ended, TP_F_I64, TP_REQ, 0),          \
	TP_SUBMSG(tp_worker, TP_K_RUSAGE, rusage, TP_REQ, 0, &tp_rusage_desc), \
	TP_FIELD(tp_worker, TP_K_STOP_DEADLINE_MS, stop_deadline_ms,         \
		 TP_F_I64, 0, TP_WORKER_STOP),                                \
	TP_FIELD(tp_worker, TP_K_STOP_SIGNAL, stop_signal, TP_F_I64, 0,       \
		 TP_WORKER_STOP_SIGNAL),                                             \
	TP_SUBMSG(tp_worker, TP_K_SPEC, spec, 0, TP_WORKER_SPEC,             \
		  &tp_worker_spec_desc)

static const struct tp_field tp_worker_f[] = { TP_WORKER_FIELDS };
TP_MAP_DESC(worker, "worker record", tp_worker, tp_worker_f);

static const struct tp_field tp_rusage_f[] = {
	TP_FIELD(tp_rusage, TP_K_UTIME_US, utime_us, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_rusage, TP_K_STIME_US, stime_us, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_rusage, TP_K_MAXRSS_KB, maxrss_kb, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(rusage, "rusage", tp_rusage, tp_rusage_f);

/* ---- WAIT, KILL, STOP, LOGS, ACK --------------------------------------- */

/* A target that is neither a pid nor a label names no worker (ESRCH). */
#define TP_TARGET_FIELD                                                       \
	TP_FIELD(tp_target, "target", target, TP_F_INTSTR, TP_REQ | TP_LAX,   \
		 TP_TARGET_TARGET)

static const struct tp_field tp_wait_f[] = {
	TP_TARGET_FIELD,
	TP_FIELD(tp_target, "timeout_ms", arg, TP_F_I64, 0, TP_TARGET_ARG),
};
TP_ARRAY_DESC(wait, "WAIT", tp_target, tp_wait_f, 1);

static const struct tp_field tp_wait_reply_f[] = {
	TP_WORKER_FIELDS,
	TP_FIELD(tp_worker, TP_K_TIMEOUT, timeout, TP_F_BOOL, TP_REQ, 0),
};
TP_MAP_DESC(wait_reply, "WAIT reply", tp_worker, tp_wait_reply_f);

static const struct tp_field tp_kill_f[] = {
	TP_TARGET_FIELD,
	TP_FIELD(tp_target, "signal", arg, TP_F_I64, TP_REQ, TP_TARGET_ARG),
};
TP_ARRAY_DESC(kill, "KILL", tp_target, tp_kill_f, 2);

static const struct tp_field tp_kill_reply_f[] = {
	TP_FIELD(tp_kill_reply, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_kill_reply, TP_K_SIGNAL, signal, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(kill_reply, "KILL reply", tp_kill_reply, tp_kill_reply_f);

static const struct tp_field tp_stop_f[] = {
	TP_TARGET_FIELD,
	TP_FIELD(tp_target, "grace_ms", arg, TP_F_I64, 0, TP_TARGET_ARG),
};
TP_ARRAY_DESC(stop, "STOP", tp_target, tp_stop_f, 1);

static const struct tp_field tp_stop_reply_f[] = {
	TP_WORKER_FIELDS,
	TP_FIELD(tp_worker, TP_K_SIGKILL, sigkill, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_worker, TP_K_AFTER_MS, after_ms, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(stop_reply, "STOP reply", tp_worker, tp_stop_reply_f);

static const struct tp_field tp_logs_f[] = {
	TP_TARGET_FIELD,
	TP_FIELD(tp_target, "from", arg, TP_F_I64, TP_REQ, TP_TARGET_ARG),
	TP_FIELD(tp_target, "follow", follow, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_target, "fdpass", fdpass, TP_F_BOOL, 0, TP_TARGET_FDPASS),
};
TP_ARRAY_DESC(logs, "LOGS", tp_target, tp_logs_f, 3);

static const struct tp_field tp_logs_reply_f[] = {
	TP_FIELD(tp_logs_reply, TP_K_DATA, data, TP_F_BIN, TP_REQ, 0),
	TP_FIELD(tp_logs_reply, TP_K_OFFSET, offset, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_logs_reply, TP_K_END, end, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_logs_reply, TP_K_FDLEN, fdlen, TP_F_U64, 0, TP_LOGS_FD),
	TP_FIELD(tp_logs_reply, TP_K_FDOFF, fdoff, TP_F_U64, 0, TP_LOGS_FDOFF),
};
TP_MAP_DESC(logs_reply, "LOGS reply", tp_logs_reply, tp_logs_reply_f);

static const struct tp_field tp_ack_f[] = {
	TP_TARGET_FIELD,
};
TP_ARRAY_DESC(ack, "ACK", tp_target, tp_ack_f, 1);

static const struct tp_field tp_ack_reply_f[] = {
	TP_FIELD(tp_kill_reply, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(ack_reply, "ACK reply", tp_kill_reply, tp_ack_reply_f);

/* ---- the spawn spec PS shows, RESPAWN --------------------------------- */

static const struct tp_field tp_worker_spec_f[] = {
	TP_LIST(tp_worker_spec, TP_K_ENV, env, TP_F_CSTR, TP_REQ, 0, NULL),
	TP_FIELD(tp_worker_spec, TP_K_ENV_TRUNCATED, env_truncated, TP_F_BOOL,
		 TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_PATH, path, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_CWD, cwd, TP_F_STR, TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_worker_spec, TP_K_USER, user, TP_F_STR, TP_REQ | TP_NIL,
		 0),
	TP_FIELD(tp_worker_spec, TP_K_UID, uid, TP_F_I64, TP_REQ | TP_NIL,
		 TP_WSPEC_UID),
	TP_FIELD(tp_worker_spec, TP_K_GID, gid, TP_F_I64, TP_REQ | TP_NIL,
		 TP_WSPEC_GID),
	TP_LIST(tp_worker_spec, TP_K_GROUPS, groups, TP_F_I64, TP_REQ, 0,
		NULL),
	TP_FIELD(tp_worker_spec, TP_K_SETSID, setsid, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_PGROUP, pgroup, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_CGROUP, cgroup, TP_F_STR,
		 TP_REQ | TP_NIL, 0),
	TP_LIST(tp_worker_spec, TP_K_FDS, fds, TP_F_MSG, TP_REQ, 0,
		&tp_worker_fd_desc),
	TP_LIST(tp_worker_spec, TP_K_RLIMITS, rlimits, TP_F_MSG, TP_REQ, 0,
		&tp_spawn_rlimit_desc),
	TP_FIELD(tp_worker_spec, TP_K_POLICY_NAME, policy_name, TP_F_STR,
		 TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_worker_spec, TP_K_POLICY_XXH3, policy_xxh3, TP_F_STR,
		 TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_worker_spec, TP_K_CAPTURE, capture, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_LOG_MAX, log_max, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_worker_spec, TP_K_LOG, log, TP_F_STR, TP_REQ | TP_NIL, 0),
};
TP_MAP_DESC(worker_spec, "worker spec", tp_worker_spec, tp_worker_spec_f);

static const struct tp_field tp_worker_fd_f[] = {
	TP_FIELD(tp_worker_fd, TP_K_CHILD_FD, child, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_worker_fd, TP_K_SERVER_FD, server, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_worker_fd, TP_K_LABEL, label, TP_F_STR, TP_REQ | TP_NIL, 0),
};
TP_MAP_DESC(worker_fd, "worker fd", tp_worker_fd, tp_worker_fd_f);

static const struct tp_field tp_respawn_f[] = {
	TP_TARGET_FIELD,
};
TP_ARRAY_DESC(respawn, "RESPAWN", tp_target, tp_respawn_f, 1);

static const struct tp_field tp_respawn_reply_f[] = {
	TP_FIELD(tp_respawn_reply, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_respawn_reply, TP_K_LABEL, label, TP_F_STR,
		 TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_respawn_reply, TP_K_LOG, log, TP_F_STR, TP_REQ | TP_NIL, 0),
	TP_FIELD(tp_respawn_reply, TP_K_RESPAWNED_FROM, respawned_from,
		 TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(respawn_reply, "RESPAWN reply", tp_respawn_reply,
	    tp_respawn_reply_f);
