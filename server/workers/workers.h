/*
 * Workers: children the server spawns and keeps whether or not a
 * controller is attached -- SPAWN, PS, WAIT, KILL, STOP, LOGS, ACK --
 * their captured output, their reaping, and, under a policy, the spawner
 * that forks them outside the server's filter.  The record and the
 * spawn's internals are in worker.h.
 */
#ifndef TETHERD_WORKERS_H
#define TETHERD_WORKERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>

struct td_server;
struct td_req;
struct td_conn;
struct td_worker;
struct td_capture;

/* The module's state in the server. */
struct td_workers {
	struct td_worker *list;		/* newest first */
	unsigned nworkers;		/* records, exited ones included */
	unsigned nrunning;
	uint64_t orphans_reaped;	/* adopted grandchildren we reaped */
	char state_dir[4096];		/* captured output */
	struct rlimit nofile_orig;	/* what workers get back */
	/* With a policy the server runs under its own seccomp filter, which
	 * every child would inherit: workers are forked by the spawner, a
	 * child started before the filter (spawner.c). */
	pid_t spawner_pid;		/* 0: none */
	int spawner_fd;			/* internal; -1: none */
};

/* workers.c */
int td_do_spawn(struct td_req *r);
int td_do_ps(struct td_req *r);
int td_do_kill(struct td_req *r);
int td_do_ack(struct td_req *r);
/* RESPAWN [target]: an ended worker again, from its kept spec. */
int td_do_respawn(struct td_req *r);
/* SIGCHLD: collect every change, ours and adopted orphans'. */
void td_workers_reap(struct td_server *srv);
/* A STOP still waits for a group that outlived its leader. */
bool td_workers_stopping(const struct td_server *srv);
void td_workers_free(struct td_server *srv);

/* wait.c */
int td_do_wait(struct td_req *r);
int td_do_stop(struct td_req *r);
int td_do_logs(struct td_req *r);
/* c's reply queue drained: its paused LOGS streams go on. */
void td_logs_conn_drained(struct td_conn *c);
/* Shutting down: SIGTERM every running worker's group now, SIGKILL when
 * the grace runs out. */
void td_workers_stop_all(struct td_server *srv, uint64_t grace_ms);

/* capture.c: a worker's output is ready (its pipe polled in the ring). */
void td_capture_event(struct td_capture *cap, int res, bool more);

/* spawner.c */
int td_spawner_start(struct td_server *srv);
void td_spawner_stop(struct td_server *srv);

#endif
