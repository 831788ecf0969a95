/*
 * The data socket: bytes in chunks (see tether_proto.h), one transfer at
 * a time per connection, driven by readiness in the ring.  A transfer
 * belongs to a job (GET, PUT, MEM_READ, MEM_WRITE, a syscall's
 * data-socket buffer) that embeds it; the connection points at it while
 * it runs.  File sources and sinks are read and written through the
 * ring, so a slow disk never stalls the loop.
 */
#ifndef TETHERD_DATA_H
#define TETHERD_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tether_proto.h"

struct td_conn;
struct td_job;
struct td_req;
struct td_server;
struct td_mem;

/* The module's state in the server: remote memory. */
struct td_mems {
	struct td_mem *list;
	unsigned n;
};

struct td_xfer {
	struct td_job *job;		/* the owner */
	struct td_conn *conn;		/* while it holds the data socket */
	bool sending;			/* server -> controller */
	bool remote;			/* mem is remote memory: copy with care */
	bool started;
	bool over;			/* finish() has run */
	bool io;			/* a ring read/write of buf is out */
	bool fdpass;			/* receiving: the controller wrote the
					 * file through a passed fd; only
					 * FDDONE (or ABORT) comes */
	uint64_t stated;		/* fdpass: the XXH3 FDDONE stated */
	int fd;				/* file source/sink, or -1 */
	bool fd_slow;			/* fd is on FUSE, NFS ...: its ring
					 * reads and writes go straight to
					 * io-wq (the ring's first try runs
					 * in the loop's io_uring_enter) */
	char *mem;			/* memory source/sink */
	uint64_t total;			/* bytes to send / most to receive */
	uint64_t done;			/* through the stream */
	uint64_t filed;			/* receiving to a file: written */
	struct tp_hash *hash;		/* XXH3 state (proto/hash.h) */
	char *buf;			/* one chunk, header included (sending) */
	void *bufmem;			/* buf's allocation */
	size_t blen;
	size_t boff;
	/* Sending a file by splice (splice.c): the chunk's header and
	 * bytes go file -> pipe -> data socket through the ring, and are
	 * teed into a second pipe that is read here to hash them. */
	bool spliced;
	bool to_socket;			/* the ring op out moves pipe -> socket */
	int pipe[2];			/* the chunk (valid while spliced) */
	int tee[2];			/* its copy, read to hash */
	size_t chunk_want;		/* this chunk's file bytes */
	size_t chunk_got;		/* of them, in the pipe */
	size_t pipe_left;		/* header + bytes still to go out */
	/* Owed on the data socket before a failed GET ends, from buf, sent
	 * as room comes: the rest of a chunk whose file pages went while it
	 * was going out (the file shrank), as zeros; then the abort. */
	size_t owed_off;
	size_t owed_left;
	int abort_err;
	bool ended;			/* END queued (sending) / seen */
	unsigned char hdr[TETHER_CHUNK_HDR];
	size_t hdr_have;
	uint32_t chunk_left;		/* receiving: bytes left of this chunk */
	int err;			/* receiving: first failure; the rest
					 * of the stream is drained */
	/* The owner's: the stream is over (err 0 or what went wrong).
	 * Called once; the connection no longer points at x. */
	void (*finish)(struct td_xfer *x, int err);
};

/* Take c's data socket for x, owned by j: -EBUSY if another transfer
 * holds it.  Nothing moves until td_xfer_start. */
int td_xfer_claim(struct td_conn *c, struct td_xfer *x, struct td_job *j);
/* Move the bytes; finish() comes when they have moved or failed (also
 * from inside this call). */
void td_xfer_start(struct td_xfer *x);
/* The data socket is ready (or its poll failed). */
void td_xfer_event(struct td_conn *c, int res);
/* The owner's ring completion of a file read or write. */
void td_xfer_io_done(struct td_xfer *x, int res);
/* The connection ends: the transfer with it. */
void td_xfer_abort(struct td_conn *c, int err);
void td_xfer_release(struct td_xfer *x);
/* The owner is going away with x unfinished: the connection lets go of
 * it (and is failed if bytes of it already went on the stream). */
void td_xfer_disown(struct td_xfer *x);
/* Over and done: ready to be claimed again (its owner and finish kept). */
void td_xfer_reset(struct td_xfer *x);

/* splice.c: a file's chunks spliced, not copied, to the data socket.
 * td_splice_start: the pipes, or false (then the bytes are read and
 * sent as ever).  td_splice_fill: the chunk of n (> 0) bytes at
 * x->done begins, 0 or -errno.  td_splice_done: a ring op of the chunk
 * completed; 1 while the chunk is under way, 2 when the socket is full
 * (td_splice_more once it has room), 0 once the chunk has gone, or
 * -errno (before anything of it went out when the source failed: an
 * ABORT may follow; else the stream is broken). */
bool td_splice_start(struct td_xfer *x);
int td_splice_fill(struct td_xfer *x, size_t n);
int td_splice_done(struct td_xfer *x, int res);
int td_splice_more(struct td_xfer *x);
void td_splice_stop(struct td_xfer *x);
/* The file bytes one spliced chunk carries: the header takes a slot of
 * the pipe, whose capacity is one chunk. */
#define TD_SPLICE_CHUNK (TETHER_CHUNK_MAX - 4096u)
uint64_t td_xfer_digest(const struct td_xfer *x);
/* The final answer of GET, PUT and MEM_*. */
void td_xfer_reply(struct td_xfer *x, int err, const char *path);

/* data.c: GET, PUT, GIVE, TAKE. */
int td_do_get(struct td_req *r);
int td_do_put(struct td_req *r);
int td_do_give(struct td_req *r);
int td_do_take(struct td_req *r);

/* mem.c: remote memory a controller composes syscalls in. */
int td_mem_check(struct td_server *srv, uint64_t addr, uint64_t len);
bool td_mem_overlaps(struct td_server *srv, uint64_t addr, uint64_t len);
/* Copies to and from remote memory that cannot fault; a read leaves
 * pages never written untouched (zeros, not made resident). */
int td_mem_read(void *dst, const void *src, size_t n);
int td_mem_write(void *dst, const void *src, size_t n);
int td_do_mem_alloc(struct td_req *r);
int td_do_mem_free(struct td_req *r);
int td_do_mem_list(struct td_req *r);
int td_do_mem_write(struct td_req *r);
int td_do_mem_read(struct td_req *r);
void td_mem_free_all(struct td_server *srv);

#endif
