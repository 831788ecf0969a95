/*
 * tetherd: one process, one event loop (loop.c) on one io_uring, and a
 * few helper threads.  A server is the composition of its modules'
 * states, one module per directory of server/:
 *
 *   handshake/  the listening socket, who may connect, the HELLO
 *   conn/       attached peers: frames in, dispatch to the handlers
 *   reply/      every answer's one way out
 *   exec/       SYSCALL and BATCH: checks, guard pages, where a call runs
 *   deferred/   requests answered later (jobs), timers, helper threads
 *   fds/        the server's own fds, labels, LIST_FDS, GC
 *   data/       the data socket (GET, PUT, GIVE, TAKE), remote memory
 *   workers/    SPAWN and the rest, captured output, the spawner
 *   policy/     the syscall policy, its filter on the server
 *   systemd/    the service manager: passed fds, notifications
 *   upgrade/    UPGRADE: the state across an exec of a new binary
 *
 * and, here, what holds them together: the loop, start-up and teardown
 * (server.c), the ring (ring.c), the log, persistence.  Requests flow one
 * way: conn/ decodes and dispatches through its op table into a module's
 * handler, which answers through reply/; no module calls back into
 * conn/ (tools/check-modules checks the object files).
 *
 * Functions return 0 or a negative errno unless they say otherwise.
 */
#ifndef TETHERD_H
#define TETHERD_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "arch.h"
#include "conn/conn.h"
#include "data/data.h"
#include "deferred/job.h"
#include "exec/exec.h"
#include "fds/fds.h"
#include "handshake/handshake.h"
#include "log.h"
#include "policy/enforce.h"
#include "proto.h"
#include "reply/reply.h"
#include "ring.h"
#include "systemd/systemd.h"
#include "upgrade/upgrade.h"
#include "workers/workers.h"

#define TD_SHUTDOWN_DEADLINE_S 5

struct td_server {
	struct io_uring ring;
	const char *socket_path;
	const char *log_path;		/* --log: reopened on SIGHUP */
	pid_t pid;
	uid_t uid;
	bool persistent;
	bool in_process;		/* the fuzz target: see server.h */
	bool stopping;
	bool exiting;			/* the loop is over: free, don't wait */
	bool deadline_passed;		/* shutting down: stop waiting */
	struct timespec started;
	int signal_fd;
	struct td_event ev_signal;
	struct td_event ev_log;
	struct td_timer shutdown_deadline;

	struct td_listen listen;	/* handshake/ */
	struct td_conns conns;		/* conn/ */
	struct td_exec exec;		/* exec/ */
	struct td_deferred deferred;	/* deferred/ */
	struct td_fds fds;		/* fds/ */
	struct td_mems mem;		/* data/ */
	struct td_workers workers;	/* workers/ */
	struct td_policy_state policy;	/* policy/ */
	struct td_notify notify;	/* systemd/ */
	struct td_activation activation; /* systemd/: until taken */
	struct td_upgrade upgrade;	/* upgrade/ */
};

/* loop.c */
int td_loop_init(struct td_server *srv);
int td_loop_run(struct td_server *srv);
/* One turn: the events that come within wait_ms (the fuzz target).
 * 0, or -errno if the ring failed. */
int td_loop_once(struct td_server *srv, unsigned wait_ms);

/* Milliseconds since the server started (STATUS, HELLO). */
static inline uint64_t td_uptime_ms(const struct td_server *srv)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)(now.tv_sec - srv->started.tv_sec) * 1000 +
	       (uint64_t)((now.tv_nsec - srv->started.tv_nsec) / 1000000);
}

/* What the HELLO answer and STATUS both say (one message, tp_status):
 * each adds what is its own. */
static inline void td_status_common(struct td_server *srv,
				    struct tp_status *st)
{
	td_labels_validate(srv);
	st->version = TETHER_PROTO_VERSION;
	st->pid = srv->pid;
	st->generation = srv->conns.generation;
	/* Clients number syscalls and spell flags by it. */
#ifdef TP_ARCH
	st->has |= TP_STATUS_ARCH | TP_STATUS_AUDIT_ARCH;
	st->arch = tp_str(TP_ARCH);
	st->audit_arch = TP_AUDIT_ARCH;
#endif
	st->persistent = srv->persistent;
	st->uptime_ms = td_uptime_ms(srv);
	st->nfds = td_count_fds();
	st->ninternal = td_ifd_count();
	st->nlabels = srv->fds.nlabels;
	st->children = srv->workers.nrunning;
	st->workers = srv->workers.nworkers;
	st->server_version = tp_str(td_server_version());
	st->has |= TP_STATUS_SERVER_VERSION;
}

/* persist.c: setsid, and no more dying with the controller. */
int td_persist(struct td_server *srv);

#endif
