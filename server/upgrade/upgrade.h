/*
 * Live upgrade (UPGRADE): tetherd execs a new binary in its own process,
 * so the pid -- and with it every worker's parent -- stays.  Before the
 * exec the server drains (no connection, nothing running in the ring or
 * on a helper), writes its state to a memfd and clears FD_CLOEXEC on
 * exactly the fds the new binary needs; the new binary, started with
 * --resume-fd, rebuilds the server from that state (state_load.c) or,
 * if it cannot read it, execs the old binary back.
 *
 * The state: a fixed header (struct td_state_hdr) a binary of any
 * version can read -- so an unknown version can still fall back -- and
 * a msgpack map (state_save.c lists the keys).
 */
#ifndef TETHERD_UPGRADE_H
#define TETHERD_UPGRADE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "deferred/timer.h"

#define TD_STATE_MAGIC "tetherd-state/1"	/* 16 bytes with its NUL */
#define TD_STATE_VERSION 1u
#define TD_STATE_MAX (256u << 20)		/* bytes of msgpack read back */
#define TD_UPGRADE_DRAIN_MS 5000		/* jobs must end by then */
/* Peers must have read their answers by then: one that does not (an
 * observer stopped with ^Z, or one that means it) is closed with them
 * unsent rather than hold the owner's upgrade off. */
#define TD_UPGRADE_FLUSH_MS 1000

struct td_state_hdr {
	char magic[16];
	uint32_t version;	/* of the msgpack body's layout */
	int32_t fallback_fd;	/* the old binary (O_PATH), for execveat */
	uint64_t len;		/* msgpack bytes after the header */
};

struct td_server;
struct td_req;

/* The running binary's version, as STATUS reports it. */
const char *td_server_version(void);

struct td_upgrade {
	/* How this server was configured: the new binary starts so too */
	const char *syslog_addr;	/* --syslog, or NULL */
	unsigned helpers;
	char binary[PATH_MAX];		/* what the server was started as */
	int exe_fd;			/* internal: this binary, O_PATH */
	unsigned count;			/* upgrades this process survived */
	/* Upgrades that did not happen: with the same error twice, only
	 * this tells a client the second one failed too. */
	unsigned failures;
	char error[256];		/* why the last one failed, or "" */
	/* An upgrade in progress: the new binary, open and checked */
	bool draining;
	bool quiesced;			/* the loop stopped accepting */
	int new_fd;
	char new_binary[PATH_MAX];
	struct td_timer deadline;
	struct td_timer flush;		/* TD_UPGRADE_FLUSH_MS */
	bool flush_late;		/* it passed: close peers unread */
};

/* At start: remember which binary we are (for UPGRADE's default and the
 * fall-back). */
void td_upgrade_init(struct td_server *srv);
/* UPGRADE [binary] */
int td_do_upgrade(struct td_req *r);
/* Nothing left that the exec would cut short: no connection, no
 * handshake, nothing in the ring or on a helper but parked results. */
bool td_upgrade_drained(struct td_server *srv);
/* Save the state and exec the new binary; returns only on failure,
 * with the server as it was and STATUS saying why.  (The loop drives
 * the drain: it owns the connections and the listening socket.) */
void td_upgrade_exec(struct td_server *srv);

/* state_save.c: the state into a new memfd (FD_CLOEXEC still set on
 * everything).  What the new binary needs open: keep[] (the memfd
 * included) and cloexec[] (fds of the controller's that had FD_CLOEXEC;
 * the new binary sets it again).  Free with td_state_out_free. */
struct td_state_out {
	int fd;
	int *keep;
	unsigned nkeep, capkeep;
	int *cloexec;
	unsigned ncloexec;
};
int td_state_save(struct td_server *srv, struct td_state_out *o);
void td_state_out_free(struct td_state_out *o);
#endif
