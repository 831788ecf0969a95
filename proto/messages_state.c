/*
 * The schema of UPGRADE's state (proto/state.h): what one tetherd binary
 * writes and the next reads.
 */
#include "messages_table.h"
#include "state.h"

#define REQ TP_REQ
#define RNIL (TP_REQ | TP_NIL)

static const struct tp_field tp_st_capture_f[] = {
	TP_FIELD(tp_st_capture, "pipe_fd", pipe_fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_capture, "log_fd", log_fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_capture, "path", path, TP_F_STR, REQ, 0),
	TP_FIELD(tp_st_capture, "old_base", old_base, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "base", base, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "size", size, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "log_max", log_max, TP_F_REG, REQ, 0),
	TP_FIELD(tp_st_capture, "lost", lost, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "have_old", have_old, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_capture, "dev", dev, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "ino", ino, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "old_dev", old_dev, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_capture, "old_ino", old_ino, TP_F_U64, REQ, 0),
};
TP_MAP_DESC(st_capture, "state capture", tp_st_capture, tp_st_capture_f);

static const struct tp_field tp_st_spec_f[] = {
	TP_LIST(tp_st_spec, "argv", argv, TP_F_CSTR, REQ, 0, NULL),
	TP_LIST(tp_st_spec, "envp", envp, TP_F_CSTR, REQ, 0, NULL),
	TP_FIELD(tp_st_spec, "env_user_set", env_user_set, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_spec, "user", user, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_st_spec, "path", path, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_st_spec, "cwd", cwd, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_st_spec, "cgroup", cgroup, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_st_spec, "policy_name", policy_name, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_st_spec, "opt_uid", opt_uid, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_spec, "opt_gid", opt_gid, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_spec, "label", label, TP_F_STR, REQ, 0),
	TP_FIELD(tp_st_spec, "home", home, TP_F_STR, REQ, 0),
	TP_FIELD(tp_st_spec, "uname", uname, TP_F_STR, REQ, 0),
	TP_FIELD(tp_st_spec, "policy_xxh3", policy_xxh3, TP_F_STR, REQ, 0),
	TP_LIST(tp_st_spec, "fds", fds, TP_F_I64, REQ, 0, NULL),
	TP_LIST(tp_st_spec, "rlimits", rlimits, TP_F_REG, REQ, 0, NULL),
	TP_FIELD(tp_st_spec, "setsid", setsid, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_spec, "pgroup", pgroup, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_spec, "capture", capture, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_spec, "have_user", have_user, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_spec, "resolved", resolved, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_spec, "uid", uid, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_spec, "gid", gid, TP_F_U64, REQ, 0),
	TP_LIST(tp_st_spec, "groups", groups, TP_F_I64, REQ, 0, NULL),
	TP_FIELD(tp_st_spec, "log_max", log_max, TP_F_REG, REQ, 0),
	TP_FIELD(tp_st_spec, "nofile_cur", nofile_cur, TP_F_REG, REQ, 0),
	TP_FIELD(tp_st_spec, "nofile_max", nofile_max, TP_F_REG, REQ, 0),
	TP_FIELD(tp_st_spec, "filter", filter, TP_F_BIN, 0, TP_ST_SPEC_FILTER),
};
TP_MAP_DESC(st_spec, "state spec", tp_st_spec, tp_st_spec_f);

static const struct tp_field tp_st_worker_f[] = {
	TP_FIELD(tp_st_worker, "pid", pid, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "pgid", pgid, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "pidfd", pidfd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "label", label, TP_F_STR, REQ, 0),
	TP_FIELD(tp_st_worker, "state", state, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "exit_code", exit_code, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "signal", signal, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "core", core, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_worker, "started_ms", started_ms, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "ended_ms", ended_ms, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_worker, "started_mono", started_mono, TP_F_U64, REQ,
		 0),
	TP_FIELD(tp_st_worker, "ru", ru, TP_F_BIN, REQ, 0),
	TP_SUBMSG(tp_st_worker, "spec", spec, 0, TP_ST_WORKER_SPEC,
		  &tp_st_spec_desc),
	TP_SUBMSG(tp_st_worker, "capture", capture, 0, TP_ST_WORKER_CAPTURE,
		  &tp_st_capture_desc),
};
TP_MAP_DESC(st_worker, "state worker", tp_st_worker, tp_st_worker_f);

static const struct tp_field tp_st_label_f[] = {
	TP_FIELD(tp_st_label, "fd", fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_label, "dev", dev, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_label, "ino", ino, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_label, "type", type, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_label, "name", name, TP_F_STR, REQ, 0),
};
TP_MAP_DESC(st_label, "state label", tp_st_label, tp_st_label_f);

static const struct tp_field tp_st_parked_f[] = {
	TP_FIELD(tp_st_parked, "id", id, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_parked, "generation", generation, TP_F_U64, REQ, 0),
	TP_FIELD(tp_st_parked, "since", since, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_parked, "ret", ret, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_parked, "nr", nr, TP_F_I64, REQ, 0),
	TP_FIELD(tp_st_parked, "is_batch", is_batch, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_parked, "data_lost", data_lost, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_st_parked, "record", record, TP_F_BIN, REQ, 0),
};
TP_MAP_DESC(st_parked, "state parked", tp_st_parked, tp_st_parked_f);

static const struct tp_field tp_state_f[] = {
	TP_FIELD(tp_state, "version", version, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "writer", writer, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "socket", socket, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "lock_path", lock_path, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "state_dir", state_dir, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "binary", binary, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "log", log, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_state, "syslog", syslog, TP_F_STR, RNIL, 0),
	TP_FIELD(tp_state, "fdstore", fdstore, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_state, "notify_fd", notify_fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_state, "notify_addr", notify_addr, TP_F_STR, REQ, 0),
	TP_FIELD(tp_state, "listen_fd", listen_fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_state, "lock_fd", lock_fd, TP_F_I64, REQ, 0),
	TP_FIELD(tp_state, "socket_ino", socket_ino, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "helpers", helpers, TP_F_U64, REQ, 0),
	TP_LIST(tp_state, "allow_uids", allow_uids, TP_F_I64, REQ, 0, NULL),
	TP_LIST(tp_state, "allow_gids", allow_gids, TP_F_I64, REQ, 0, NULL),
	TP_LIST(tp_state, "ro_uids", ro_uids, TP_F_I64, REQ, 0, NULL),
	TP_FIELD(tp_state, "persistent", persistent, TP_F_BOOL, REQ, 0),
	TP_FIELD(tp_state, "started_sec", started_sec, TP_F_I64, REQ, 0),
	TP_FIELD(tp_state, "started_nsec", started_nsec, TP_F_I64, REQ, 0),
	TP_FIELD(tp_state, "generation", generation, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "job_seq", job_seq, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "upgrades", upgrades, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "orphans_reaped", orphans_reaped, TP_F_U64, REQ,
		 0),
	TP_FIELD(tp_state, "parked_lost", parked_lost, TP_F_U64, REQ, 0),
	TP_FIELD(tp_state, "nofile_cur", nofile_cur, TP_F_REG, REQ, 0),
	TP_FIELD(tp_state, "nofile_max", nofile_max, TP_F_REG, REQ, 0),
	TP_LIST(tp_state, "cloexec", cloexec, TP_F_I64, REQ, 0, NULL),
	TP_LIST(tp_state, "labels", labels, TP_F_MSG, REQ, 0,
		&tp_st_label_desc),
	TP_LIST(tp_state, "workers", workers, TP_F_MSG, REQ | TP_DEFER, 0,
		&tp_st_worker_desc),
	TP_LIST(tp_state, "parked", parked, TP_F_MSG, REQ | TP_DEFER, 0,
		&tp_st_parked_desc),
	/* Optional: a binary that does not know it leaves those peers to
	 * their handshake deadline. */
	TP_LIST(tp_state, "held", held, TP_F_I64, 0, TP_STATE_HELD, NULL),
	TP_FIELD(tp_state, "upgrade_failures", upgrade_failures, TP_F_U64, 0,
		 TP_STATE_UPGRADE_FAILURES),
};
TP_MAP_DESC(state, "upgrade state", tp_state, tp_state_f);
