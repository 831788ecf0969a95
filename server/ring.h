/*
 * The ring: tetherd's one io_uring, and what its completions point at.
 * Every module submits through td_sqe(); the loop (loop.c) hands each
 * completion to the module its event names.
 */
#ifndef TETHERD_RING_H
#define TETHERD_RING_H

#include <liburing.h>

/* The kernel maps the whole ring into us at once, so its size is resident
 * from the start: 1024/8192 was 200 KiB of an idle tetherd's 2.4 MiB.
 * td_sqe() submits when the SQ is full, and the kernel keeps completions
 * that overflow the CQ (IORING_FEAT_NODROP) until the loop reaps them:
 * smaller rings cost a submit per 256 SQEs, not lost work.  2048 CQEs
 * hold bench_async's 1,000 concurrent reads at once. */
#define TD_RING_SQ 256
#define TD_RING_CQ 2048

struct td_server;

/* What a completion's user_data points at. */
enum td_ev_kind {
	TD_EV_ACCEPT = 1,		/* handshake/: the listening socket */
	TD_EV_HANDSHAKE,		/* handshake/: one connection's HELLO */
	TD_EV_CONN_IN,			/* conn/: a peer's frames */
	TD_EV_CONN_OUT,			/* conn/ reply/: a send or its POLLOUT */
	TD_EV_DATA,			/* data/: its data socket is ready */
	TD_EV_SIGNAL,			/* loop.c: the signalfd */
	TD_EV_TIMER,			/* deferred/: the earliest deadline */
	TD_EV_JOB,			/* deferred/: a job's SQE completed */
	TD_EV_POOL,			/* deferred/: helper threads finished */
	TD_EV_CAPTURE,			/* workers/: output to drain */
	TD_EV_LOG,			/* log.c: the log takes lines again */
	TD_EV_NOTIFY,			/* systemd/: the manager reads again */
};

struct td_event {
	enum td_ev_kind kind;
	void *obj;
};

/* An SQE, submitting what is queued if the ring is full; NULL only if
 * even that found no room. */
struct io_uring_sqe *td_sqe(struct td_server *srv);

#endif
