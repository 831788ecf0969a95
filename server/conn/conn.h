/*
 * Connections: an attached controller or observer -- the syscall and data
 * sockets it handed over in the handshake -- its frames in, dispatched
 * through the op table (dispatch.c) to the modules' handlers, and its end.
 * Both sockets are internal fds, closed here when it ends.
 */
#ifndef TETHERD_CONN_H
#define TETHERD_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "proto.h"
#include "reply/reply.h"
#include "ring.h"

struct td_calljob;
struct td_job;
struct td_server;
struct td_xfer;

/* The class of a peer, from its credentials: what it may do and which
 * quotas it draws on (handshake/ decides it). */
enum td_peer_role { TD_PEER_REFUSED, TD_PEER_READONLY, TD_PEER_FULL };

/* A connection's ev_out, the one way its replies are in the ring
 * (server/reply/reply.c). */
enum td_out_state {
	TD_OUT_IDLE,		/* nothing: replies wait for the turn's end */
	TD_OUT_POLL,		/* a POLLOUT: a policy keeps send off the ring */
	TD_OUT_QUIET,		/* a send of [head, len) that posts nothing
				 * when whole (td_conns_sent_whole) */
	TD_OUT_SEND,		/* the same, that posts its completion */
	TD_OUT_WAIT,		/* the rest of a short one, the ring waiting
				 * for the peer to read it */
};

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
	const char *failed;		/* td_conn_fail()'s why, or NULL */
	enum td_out_state out_state;	/* what ev_out is in the ring */
	unsigned inflight;		/* ring requests that point at us */
	unsigned njobs;			/* its requests answered later */
	uint64_t skip;			/* bytes of an oversized frame to drop */
	struct td_event ev_in;
	struct td_event ev_out;
	struct td_event ev_data;
	bool data_armed;
	bool dfd_sndbuf;		/* data/'s send buffer size is set */
	struct td_xfer *xfer;		/* a transfer on the data socket */
	struct tp_rbuf in;
	struct td_outq out;
	bool causes;			/* HELLO asked for errors' causes */
	bool told_upgrading;		/* the drain's notice is queued */
	/* exec/reap.c's: SUBMIT's completions until a REAP takes them */
	struct td_calljob *cq_head;
	struct td_calljob *cq_tail;
	unsigned ncq;			/* completions queued */
	unsigned nsubmitted;		/* submitted, not yet complete */
	size_t submit_bytes;		/* buffer bytes both kinds hold */
	struct td_job *reaper;		/* a REAP waiting, or NULL */
};

/* The module's state in the server. */
struct td_conns {
	struct td_conn *all;		/* observers included */
	struct td_conn *controller;	/* the attached one, or NULL */
	unsigned nobservers;
	uint64_t generation;		/* grows with every controller attach */
	bool sync_send;			/* replies by send(2), not the ring:
					 * a policy kept IORING_OP_SEND out */
};

/* Closed, or failed and closed at the end of this turn: nothing more
 * is read from it or sent to it. */
static inline bool td_conn_gone(const struct td_conn *c)
{
	return c->closing || c->failed;
}

/* conn.c */
struct td_conn *td_conn_new(struct td_server *srv, int sfd, int dfd);
void td_conn_event_in(struct td_conn *c, int res, bool more);
void td_conn_event_out(struct td_conn *c, int res);
/* Right after the enter that issued them: the quiet ring sends (reply/)
 * that posted no completion -- only a short or failed one does -- went
 * whole. */
void td_conns_sent_whole(struct td_server *srv);
void td_conn_event_data(struct td_conn *c, int res);
void td_conn_close(struct td_conn *c, const char *why);
/* Read and handle what c has sent so far, now, as its next poll
 * completion would: a controller whose process exited has its end of
 * file read and is detached (its completion may still wait in the CQ
 * behind a HELLO that finds it attached).  False if c is gone after. */
bool td_conn_catch_up(struct td_conn *c);
/* The requests a peer sent behind its HELLO (tether-protocol(7),
 * HANDSHAKE), handled now, their answers queued.  They may close c:
 * the caller does not touch it after. */
void td_conn_first_read(struct td_conn *c);
void td_conn_put(struct td_conn *c);	/* drop one inflight reference */
/* Between events: close failed connections, free closed ones. */
void td_conns_reap(struct td_server *srv);

/* dispatch.c: one frame's request to its handler, its answer back. */
void td_dispatch(struct td_conn *c, const unsigned char *payload, size_t len);

#endif
