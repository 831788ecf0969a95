/*
 * Replies: the one path every answer takes.  A handler packs its success
 * body (a message of proto/messages.h) through r->w or returns
 * td_req_fail(); an answer that comes later
 * (a job's) is queued with td_conn_queue().  A peer's output queue never
 * blocks the server.  Replies are sent by the ring, once per loop turn
 * for everything a peer was answered in it: the send then rides on the
 * io_uring_enter that waits for the next event instead of costing a
 * syscall of its own, and a socket that is full is the ring's to wait
 * for.  Nothing here closes a connection: a peer whose replies cannot
 * go is marked failed, and conn/ closes it between events.
 */
#ifndef TETHERD_REPLY_H
#define TETHERD_REPLY_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "messages.h"
#include "proto.h"

#define TD_OUTQ_HIGH (4u << 20)		/* stop reading a peer past this */
#define TD_OUTQ_HIGH_RO (256u << 10)
#define TD_OUTQ_MAX (64u << 20)		/* replies a peer leaves unread */
#define TD_OUTQ_MAX_RO (4u << 20)

/* A handler's return: the reply comes later (a job answers). */
#define TD_REPLY_LATER 1

struct td_conn;
struct td_server;

/* Output queue of one connection: frames waiting for the socket.  While
 * a ring send holds [head, len) of buf (the kernel reads it until the
 * completion), what is queued goes after it in more. */
struct td_outq {
	char *buf;
	size_t head;			/* first unsent byte */
	size_t len;			/* end of queued bytes */
	size_t cap;
	char *more;			/* queued behind a send in flight */
	size_t more_len;
	size_t more_cap;
	bool sndbuf_raised;		/* SO_SNDBUF holds a whole frame */
};

/* One request being handled. */
struct td_req {
	struct td_conn *conn;
	struct td_server *srv;
	uint64_t id;
	const msgpack_object *body;
	struct tp_w *w;			/* where the success body goes: a
					 * failure there fails the request */
	char err[256];
	const char *cause;		/* TP_CAUSE_* of the failure, or NULL */
};

/* The request fails with err; fmt says why.  Returns -err. */
int td_req_fail(struct td_req *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Queue a finished frame on c (and send what the socket takes; the
 * queue may take over m's buffer: m is only to be destroyed after).  -EPIPE
 * on a connection that is going, -ENOBUFS when c leaves more unread than
 * it may (c is then failed). */
int td_conn_queue(struct td_conn *c, struct tp_msg *m);
/* The same for a gathered frame (finished): sent from where its iovecs
 * point, only what the socket does not take now copied to the queue, so
 * what they point at may go as soon as this returns.  m's iovecs are
 * used up. */
int td_conn_queue_gather(struct td_conn *c, struct tp_gmsg *m);
/* A reply with id 0 that answers no request. */
void td_conn_notice(struct td_conn *c, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Send what is queued now, as far as the socket takes it, when no ring
 * send is in flight (a take-over notice, the last answers of a peer
 * being closed). */
void td_conn_flush(struct td_conn *c);
/* The end of a loop turn: a ring send for every peer with replies
 * queued and none in flight. */
void td_conns_send(struct td_server *srv);
/* The completion of c's ring send (res: bytes sent or -errno) or of its
 * POLLOUT. */
void td_conn_sent(struct td_conn *c, int res);
/* A peer whose queue was at least this long before a send completed may
 * have paused streams or reading (LOGS pauses at 1 MiB, reading at
 * td_conn_outq_high()): they go on. */
#define TD_OUTQ_RESUME TD_OUTQ_HIGH_RO
/* Free the queue's memory (the connection's end). */
void td_outq_free(struct td_outq *q);
/* Bytes queued and unsent. */
size_t td_conn_unsent(const struct td_conn *c);
/* Past this many unsent bytes, stop reading c. */
size_t td_conn_outq_high(const struct td_conn *c);
/* c cannot go on (its stream is out of step, its replies cannot go):
 * closed by conn/ at the end of this turn, with why logged. */
void td_conn_fail(struct td_conn *c, const char *why);

#endif
