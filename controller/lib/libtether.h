/*
 * libtether internals.  tl_ functions are hidden; only tether_* is
 * exported (see TETHER_API).
 */
#ifndef LIBTETHER_H
#define LIBTETHER_H

#include <stdbool.h>
#include <stddef.h>

#include "messages.h"
#include "proto.h"
#include "tether.h"

#define TETHER_API __attribute__((visibility("default")))

struct tether {
	int sfd;			/* syscall socket, our end */
	int dfd;			/* data socket, our end */
	uint64_t next_id;
	pid_t child;			/* tetherd we started, or 0 */
	struct tether_status info;	/* from the handshake */
	struct tp_rbuf in;
	size_t consumed_pending;	/* bytes of the last frame, still referenced */
	int data_out;			/* SYSCALL: out buffer on the data socket */
	int *held;			/* sorted fds we own in the server */
	size_t nheld;
	size_t capheld;
	char err[256];
	bool taken;			/* lost to a take-over, by: */
	pid_t taken_pid;
	uid_t taken_uid;
	int cause;			/* enum tether_cause of the last failure */
	bool causes;			/* HELLO asked for causes (server knew it) */
	int intr_fd;			/* tether_set_interrupt_fd, or -1 */
	/* The server is on this host and may hand us fds of its files
	 * (GET, PUT, LOGS copy locally): true for a local connection, set
	 * false where fds cannot cross (a remote controller over ssh). */
	bool can_pass_fds;
	bool fdpass_refused;		/* the server did not know the flag */
	/* reap.c: calls submitted and not yet reaped, by id (open
	 * addressing; id 0 is never one) */
	uint64_t *sub_ids;
	struct tether_call **sub_calls;
	size_t sub_cap;			/* a power of two, or 0 */
	size_t nsub;
	pid_t relay;			/* url.c: the relay child, or 0 */
	unsigned char *answer;		/* dial.c: tetherd's answer, raw */
	size_t answer_len;
	/* pipeline.c: a TETHER_CONNECT_PIPELINE connect whose HELLO answer
	 * is not read yet, or was a refusal; NULL once attached. */
	struct tl_pipe *pipe;
	/* the wait for that answer saw the syscall socket readable too:
	 * the next read need not poll it (nothing else reads it) */
	bool sfd_ready;
};

/* opts.c: the caller's option structure src (NULL: every default) as
 * this library knows it, known bytes of dst; v1 is its size in
 * libtether 1.0 (what struct_size 0 means).  dst's struct_size is then
 * the caller's. */
int tl_opts_in(struct tether *t, void *dst, size_t known, const void *src,
	       size_t v1);
/* Output fields back: no more than the caller's structure holds, which
 * src's struct_size says (set from the caller's). */
void tl_opts_out(void *dst, const void *src, size_t known);
/* How much of the caller's output structure user (NULL: none) may be
 * written: its struct_size (0: known, the layout it came with), in
 * *size; -EINVAL, said as name's, below sizeof(size_t) or past max. */
int tl_opts_out_size(struct tether *t, const void *user, size_t known,
		     size_t max, const char *name, size_t *size);
#define TL_V1_SIZE(type, last) \
	(offsetof(type, last) + sizeof(((type *)0)->last))

/* block.c: one block for the caller.  Count every string vector and
 * string, allocate with the records' size, then copy them in. */
struct tl_block {
	size_t nptrs;			/* pointer slots, NULLs included */
	size_t nstrs;			/* string bytes, NULs included */
	char *base;
	char **ptrs;
	char *strs;
};
void tl_block_count(struct tl_block *b, char *const *v, size_t n);
void tl_block_count_str(struct tl_block *b, const char *s);
/* The block, its first `records` bytes for the caller's records. */
void *tl_block_alloc(struct tl_block *b, size_t records);
const char *tl_block_str(struct tl_block *b, const char *s);
const char *const *tl_block_strv(struct tl_block *b, char *const *v,
				 size_t n);

/* handle.c */
struct tether *tl_alloc(void);
void tl_free(struct tether *t);
int64_t tl_now_ms(void);		/* CLOCK_MONOTONIC, for deadlines */
int tl_fail(struct tether *t, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Failures with no handle to hold their text (connect, start) leave it
 * here, per thread; tether_last_error(NULL) reads it. */
void tl_set_orphan_error(const char *text);
void tl_set_orphan_cause(int cause);
/* A wire cause (TP_CAUSE_*) as enum tether_cause; NULL: the request's. */
int tl_cause_of(const char *p, size_t n);
/* The status a HELLO answer or a STATUS reply carries, into st: what the
 * message may leave out (the fds of our connection, in a STATUS) keeps
 * its value; a required key missing is -EPROTO, with t->err saying. */
int tl_status_from_map(struct tether *t, struct tether_status *st,
		       const msgpack_object *map);
/* The same from the message decoded already. */
void tl_status_fill(struct tether_status *st, const struct tp_status *s);
/* admin.c: a STATUS request, its reply decoded once into both halves
 * (x whole, struct_size its sizeof; -1 or "" for what is not said). */
struct tl_status_both {
	struct tether_status st;
	struct tether_status_ex x;
};
int tl_status_both(struct tether *t, struct tl_status_both *b);

/* rpc.c: send one request and wait for its reply.  On success the reply
 * is in *in (destroy it); a server error becomes -err with its text in
 * t->err. */
int tl_rpc(struct tether *t, struct tp_msg *req, uint64_t id,
	   struct tp_in *in);
/* The same for a gathered request (tp_gmsg: its large buffers sent from
 * where they are, not copied into the frame). */
int tl_rpc_gather(struct tether *t, struct tp_gmsg *req, uint64_t id,
		  struct tp_in *in);
uint64_t tl_next_id(struct tether *t);
/* The next frame of a streamed reply to id (LOGS). */
int tl_rpc_more(struct tether *t, uint64_t id, struct tp_in *in);
/* rc, a call's failure on a lost connection, or -ECONNABORTED if the
 * server's take-over notice has arrived (t->err then names who took
 * over): reads what the syscall socket holds, without waiting. */
int tl_lost(struct tether *t, int rc);

/* admin.c: a request whose body pack writes (NULL: the op's empty
 * body); the reply's body to fn, or, fn NULL, only checked against the
 * op's reply message. */
int tl_request(struct tether *t, unsigned op,
	       int (*pack)(struct tp_w *w, const void *arg),
	       const void *parg,
	       int (*fn)(struct tether *t, const msgpack_object *body,
			 void *arg),
	       void *arg);

/* fds.c: the labeled fds alone, in one request (LIST_FDS [0, true]);
 * *v one block.  A server that predates it answers an error. */
int tl_list_labeled(struct tether *t, struct tether_fdinfo **v, size_t *n);

/* call.c */
/* c as a SYSCALL body with every buffer inline (BATCH entries): 0, or
 * -EINVAL/-E2BIG with t->err saying which argument is wrong. */
int tl_call_to_syscall(struct tether *t, const struct tether_call *c,
		       struct tp_syscall_req *s);
/* A SYSCALL reply into c: ret, and the out buffers copied back. */
int tl_call_unpack(struct tether *t, struct tether_call *c,
		   const struct tp_syscall_reply *r);

/* data.c: a buffer as chunks on the data socket, out or in (exactly
 * len bytes expected). */
int tl_send_buffer(struct tether *t, const void *buf, size_t len);
int tl_recv_buffer(struct tether *t, void *buf, size_t len);

/* fdpass.c: the same-host fast paths (GET, PUT, LOGS through fds). */
/* A buffer the kernel copies into or out of, page-aligned: into a
 * misaligned one (malloc's 16-byte offset) read() and recv() run at a
 * third of the speed on some CPUs.  free() it. */
void *tl_chunk_alloc(size_t size);
/* Ask for an fd: can_pass_fds, the server knows how, and
 * TETHER_NO_FDPASS is not set in the environment. */
bool tl_fdpass_ok(const struct tether *t);
/* One byte with exactly one fd from the data socket (data.c). */
int tl_recv_fd(struct tether *t);
/* The read-only regular file a GET or LOGS was passed, checked: the
 * fd, or -errno with t->err saying (the fd closed). */
int tl_fdpass_ro(struct tether *t, int fd);
/* size bytes of the file fd from offset off, window bytes at a time, to
 * fn (nonzero stops: returned as is); -EIO if the file ends early. */
int tl_fdpass_read(struct tether *t, int fd, uint64_t off, uint64_t size,
		   size_t window,
		   int (*fn)(const void *p, size_t n, void *arg), void *arg);
/* What fn is handed at a time: small enough that what was just read is
 * still in the cache when it is hashed and handed on (LOGS documents
 * it as its largest piece) ... */
#define TL_FDPASS_WINDOW (128u << 10)
/* ... and, when nothing is hashed, what a local read() takes at its
 * fastest (bench_data: 1 MiB reads beat 128 KiB ones by ~5%). */
#define TL_FDPASS_WINDOW_BARE (1u << 20)

/* reap.c: id, if this handle submitted it, is no longer to be reaped
 * (a collect took it). */
void tl_sub_forget(struct tether *t, uint64_t id);

/* reconnect.c */
#define TL_ANSWER_MAX 4096	/* a handshake answer, whole */
/* How long a HELLO's answer may take: $TETHER_CONNECT_TIMEOUT seconds
 * (0: no limit), else TL_HANDSHAKE_MS.  A healthy server answers in
 * microseconds; an upgrading one within seconds (its drain gives up at
 * 5). */
#define TL_HANDSHAKE_MS 30000u
unsigned tl_handshake_ms(void);
/* The handshake on fd ran out of time: -ETIMEDOUT, said in t->err. */
int tl_handshake_timeout(struct tether *t, int fd);
/* A handshake answer frame (header included): the status into t->info,
 * or the server's refusal as -errno with t->err and t->cause. */
int tl_answer_parse(struct tether *t, const unsigned char *buf, size_t n);
/* Trusting, besides ourselves and root, server_uid (TETHER_UID_NONE:
 * nobody more) as the owner of the socket's directories and of the
 * server. */
int tl_connect(struct tether *t, const char *socket_path, unsigned flags,
	       uid_t server_uid);

/* pipeline.c: the connect behind a TETHER_CONNECT_PIPELINE handle. */
/* reconnect.c's ways to read a HELLO's answer on fd (0 attached, or
 * the refusal) and to go on as tether_connect does after a first
 * attempt refused with rc (EAGAIN: again; EINVAL for the causes flag:
 * without it), synchronously: handed over, so that pipeline.c calls
 * nothing of reconnect.c (no cycle between them, tools/check-modules). */
struct tl_pipe_ops {
	int (*answer)(struct tether *t, int fd);
	int (*redo)(struct tether *t, int rc, const char *path,
		    unsigned hflags, uint64_t expect_gen, uid_t server_uid);
};
/* The HELLO went out on hfd; its parameters, for an attach again. */
int tl_pipe_begin(struct tether *t, int hfd, const struct tl_pipe_ops *ops,
		  const char *path, unsigned hflags, uint64_t expect_gen,
		  uid_t server_uid);
/* Read the HELLO's answer: 0 attached, 1 attached again and what was
 * sent replayed, or the refusal (sticky).  TL_WAIT_NOW: -EAGAIN if it
 * has not come; TL_WAIT_REPLY (a reply is what the caller waits for):
 * wait until the syscall socket is readable, not for the answer itself
 * (tl_rpc_recv).  tl_settle is the check every other read and every
 * unrecorded send makes first. */
enum tl_wait { TL_WAIT_NOW, TL_WAIT_ANSWER, TL_WAIT_REPLY };
int tl_pipe_wait(struct tether *t, enum tl_wait how);
static inline int tl_settle(struct tether *t, bool nowait)
{
	return t->pipe ? tl_pipe_wait(t, nowait ? TL_WAIT_NOW : TL_WAIT_ANSWER)
		       : 0;
}
/* A request's bytes on the syscall socket (data false), or one byte
 * and passfd on the data socket: sent, and while the answer is
 * pending kept to be sent again should the attach have to be redone.
 * passfd's number is kept, not a copy: the call that passes it reads
 * the answer (tl_settle) before it returns, the fd still open. */
int tl_pipe_send(struct tether *t, bool data, const void *buf, size_t n,
		 int passfd);
void tl_pipe_free(struct tether *t);
/* The caller's fds are no longer to be passed again (its call returns
 * with the answer unread: interrupted). */
void tl_pipe_unpass(struct tether *t);
/* The HELLO was refused: calls fail with its words, not their own. */
bool tl_pipe_refusal(const struct tether *t);
/* tether_disconnect's: requests behind the HELLO are sent again if
 * the attach has to be redone; then the state goes. */
void tl_pipe_close(struct tether *t);

/* workers.c, for spec.c */
struct tp_intstr tl_target(const char *target);
void tl_worker_from(struct tether_worker *w, const struct tp_worker *m);
int tl_pack_ps_from(struct tp_w *w, const void *arg);

#endif
