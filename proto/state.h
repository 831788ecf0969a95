/*
 * What UPGRADE hands from one tetherd binary to the next (server/upgrade/),
 * as messages of the codec like the wire's: the schema is checked on both
 * sides the same way, a key unknown to the reader is ignored, a key it
 * needs and does not find fails the resume (and the old binary takes the
 * state back).  Not part of the protocol: nothing but tetherd reads it.
 * Host byte order where bytes are raw (struct rusage, a BPF program):
 * writer and reader run on the same machine, one after the other.
 */
#ifndef TETHER_STATE_H
#define TETHER_STATE_H

#include "messages.h"

struct tp_st_capture {
	uint32_t has;
	int64_t pipe_fd;		/* -1 at end of file */
	int64_t log_fd;
	struct tp_str path;
	uint64_t old_base, base, size, log_max, lost;
	bool have_old;
	uint64_t dev, ino, old_dev, old_ino;	/* the files as created */
};

struct tp_st_spec {
	uint32_t has;
	struct tp_list argv, envp;	/* of str (any bytes) */
	uint64_t env_user_set;
	struct tp_str user, path, cwd, cgroup, policy_name;	/* or nil */
	int64_t opt_uid, opt_gid;	/* -1: not given */
	struct tp_str label, home, uname, policy_xxh3;
	struct tp_list fds;		/* of int: child, server, child, ... */
	struct tp_list rlimits;		/* of uint: resource, soft, hard, ... */
	bool setsid, pgroup, capture, have_user, resolved;
	uint64_t uid, gid;
	struct tp_list groups;		/* of int */
	uint64_t log_max;
	uint64_t nofile_cur, nofile_max;
	struct tp_bin filter;		/* the worker's BPF, or nil */
};
#define TP_ST_SPEC_FILTER 0x1u

struct tp_st_worker {
	uint32_t has;
	int64_t pid, pgid, pidfd;	/* pidfd -1 once reaped */
	struct tp_str label;
	int64_t state, exit_code, signal;
	bool core;
	int64_t started_ms, ended_ms;
	uint64_t started_mono;
	struct tp_bin ru;		/* struct rusage */
	struct tp_st_spec spec;
	struct tp_st_capture capture;
};
#define TP_ST_WORKER_SPEC 0x1u
#define TP_ST_WORKER_CAPTURE 0x2u

struct tp_st_label {
	uint32_t has;
	int64_t fd;
	uint64_t dev, ino, type;
	struct tp_str name;
};

struct tp_st_parked {
	uint32_t has;
	uint64_t id, generation;
	int64_t since, ret, nr;
	bool is_batch, data_lost;
	struct tp_bin record;		/* COLLECT's answer, as parked */
};

struct tp_state {
	uint32_t has;
	uint64_t version;
	struct tp_str writer;		/* the binary's version */
	struct tp_str socket, lock_path, state_dir, binary;
	struct tp_str log;		/* nil: stderr */
	struct tp_str syslog;		/* --syslog's address, or nil */
	bool fdstore;			/* --fdstore */
	int64_t notify_fd;		/* to NOTIFY_SOCKET (connected), or -1 */
	struct tp_str notify_addr;
	int64_t listen_fd, lock_fd;
	uint64_t socket_ino, helpers;
	struct tp_list allow_uids, allow_gids, ro_uids;	/* of int */
	bool persistent;
	int64_t started_sec, started_nsec;	/* CLOCK_MONOTONIC */
	uint64_t generation, job_seq, upgrades, orphans_reaped, parked_lost;
	uint64_t nofile_cur, nofile_max;
	struct tp_list cloexec;		/* of int: fds to set it on again */
	struct tp_list labels;		/* of st_label */
	struct tp_list workers;		/* of st_worker, oldest first */
	struct tp_list parked;		/* of st_parked, oldest first */
	/* of int: connections accepted while draining, their HELLO
	 * unread; the new binary runs their handshakes */
	struct tp_list held;
	uint64_t upgrade_failures;	/* UPGRADEs that did not happen */
};
#define TP_STATE_HELD 0x1u
#define TP_STATE_UPGRADE_FAILURES 0x2u

extern const struct tp_desc tp_state_desc, tp_st_worker_desc,
	tp_st_spec_desc, tp_st_capture_desc, tp_st_label_desc,
	tp_st_parked_desc;

#endif
