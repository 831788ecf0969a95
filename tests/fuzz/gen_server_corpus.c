/*
 * gen_server_corpus: write the seed scripts for fuzz_server into a
 * directory, one per op or behaviour (the script format is described at
 * the top of fuzz_server.c; fuzz_server.h has its constants).
 *
 * Two seeds carry the bug the guarded buffers fixed: uname with a 1-byte
 * out buffer, fstat with an 8-byte one (seed names ending in _bug).
 * The revert experiment in README starts without them.
 *
 * usage: gen_server_corpus DIR
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_server.h"
#include "proto.h"

/* A script being written. */
struct gs {
	unsigned char b[16384];
	size_t n;
};

/* A payload being written (CALL, BATCH, MEM ...). */
struct pl {
	unsigned char b[4096];
	size_t n;
};

static void pl_u8(struct pl *p, unsigned v)
{
	p->b[p->n++] = (unsigned char)v;
}

static void pl_u16(struct pl *p, unsigned v)
{
	pl_u8(p, v >> 8);
	pl_u8(p, v);
}

static void pl_u32(struct pl *p, uint32_t v)
{
	pl_u16(p, v >> 16);
	pl_u16(p, v);
}

static void pl_u64(struct pl *p, uint64_t v)
{
	pl_u32(p, (uint32_t)(v >> 32));
	pl_u32(p, (uint32_t)v);
}

static void pl_bytes(struct pl *p, const void *s, size_t n)
{
	memcpy(p->b + p->n, s, n);
	p->n += n;
}

/* One record: op, length, payload. */
static void rec(struct gs *g, unsigned op, const void *p, size_t n)
{
	g->b[g->n++] = (unsigned char)op;
	g->b[g->n++] = (unsigned char)(n >> 8);
	g->b[g->n++] = (unsigned char)n;
	memcpy(g->b + g->n, p, n);
	g->n += n;
}

static void rec_pl(struct gs *g, unsigned kind, unsigned slot,
		   const struct pl *p)
{
	rec(g, FZ_OP(kind, slot), p->b, p->n);
}

static void hello(struct gs *g, unsigned slot, unsigned variant,
		  unsigned flags, unsigned genk)
{
	unsigned char p[3] = { (unsigned char)variant, (unsigned char)flags,
			       (unsigned char)genk };

	rec(g, FZ_OP(FZ_HELLO, slot), p, sizeof(p));
}

static void loop(struct gs *g, unsigned turns)
{
	unsigned char p = (unsigned char)(turns - 1);

	rec(g, FZ_OP(FZ_LOOP, 0), &p, 1);
}

static void sleep_ms(struct gs *g, unsigned ms)
{
	unsigned char p = (unsigned char)ms;

	rec(g, FZ_OP(FZ_SLEEP, 0), &p, 1);
}

/* A controller in slot 0, attached. */
static void attach(struct gs *g)
{
	hello(g, 0, FZ_HELLO_PLAIN, 0, 0);
	loop(g, 2);
}

/* ---- REQ: an op and its body, packed with msgpack ---------------------- */

struct req {
	msgpack_sbuffer sb;
	msgpack_packer pk;
};

static msgpack_packer *req_begin(struct req *r, unsigned op)
{
	unsigned char o = (unsigned char)op;

	msgpack_sbuffer_init(&r->sb);
	msgpack_packer_init(&r->pk, &r->sb, msgpack_sbuffer_write);
	msgpack_sbuffer_write(&r->sb, (const char *)&o, 1);
	return &r->pk;
}

static void req_end(struct gs *g, unsigned slot, struct req *r)
{
	rec(g, FZ_OP(FZ_REQ, slot), r->sb.data, r->sb.size);
	msgpack_sbuffer_destroy(&r->sb);
}

static void pk_str(msgpack_packer *pk, const char *s)
{
	tp_pack_str(pk, s);
}

/* An op with an empty body. */
static void req0(struct gs *g, unsigned slot, unsigned op)
{
	struct req r;

	msgpack_pack_array(req_begin(&r, op), 0);
	req_end(g, slot, &r);
}

/* An op whose body is [n] or [n, m]. */
static void req_ints(struct gs *g, unsigned slot, unsigned op, unsigned n,
		     int64_t a, int64_t b)
{
	struct req r;
	msgpack_packer *pk = req_begin(&r, op);

	msgpack_pack_array(pk, n);
	msgpack_pack_int64(pk, a);
	if (n > 1)
		msgpack_pack_int64(pk, b);
	req_end(g, slot, &r);
}

/* ---- CALL descriptions ------------------------------------------------- */

static void call_begin(struct pl *p, unsigned sc, unsigned flags,
		       unsigned nargs)
{
	p->n = 0;
	pl_u8(p, sc);
	pl_u8(p, flags);
	pl_u8(p, nargs);
}

static void arg_i8(struct pl *p, int v)
{
	pl_u8(p, FZ_ARG_I8);
	pl_u8(p, (unsigned)v & 0xff);
}

static void arg_u16(struct pl *p, unsigned v)
{
	pl_u8(p, FZ_ARG_U16);
	pl_u16(p, v);
}

static void arg_i64(struct pl *p, uint64_t v)
{
	pl_u8(p, FZ_ARG_I64);
	pl_u64(p, v);
}

static void arg_sized(struct pl *p, unsigned type, unsigned size)
{
	pl_u8(p, type);
	pl_u16(p, size);
}

static void arg_in(struct pl *p, const void *s, size_t n)
{
	pl_u8(p, FZ_ARG_IN);
	pl_u8(p, (unsigned)n);
	pl_bytes(p, s, n);
}

static void arg_inout(struct pl *p, const void *s, size_t n, unsigned size)
{
	pl_u8(p, FZ_ARG_INOUT);
	pl_u8(p, (unsigned)n);
	pl_bytes(p, s, n);
	pl_u16(p, size);
}

static void arg_str(struct pl *p, const char *s)
{
	size_t n = strlen(s);

	pl_u8(p, FZ_ARG_STR);
	pl_u8(p, (unsigned)n);
	pl_bytes(p, s, n);
}

static void arg_ref(struct pl *p, unsigned k)
{
	pl_u8(p, FZ_ARG_RESULT);
	pl_u8(p, k);
}

/* memfd_create("fz", 0): the session's fd 3. */
static void call_memfd(struct pl *p)
{
	call_begin(p, FZ_SC_MEMFD_CREATE, 0, 2);
	arg_str(p, "fz");
	arg_i8(p, 0);
}

static void memfd(struct gs *g)
{
	struct pl p;

	call_memfd(&p);
	rec_pl(g, FZ_CALL, 0, &p);
}

/* Send one CALL in slot 0. */
#define CALL(g, p) rec_pl(g, FZ_CALL, 0, p)

/* ---- data-socket chunks ------------------------------------------------- */

static void chunk_data(struct gs *g, unsigned slot, const char *s)
{
	struct pl p = { .n = 0 };

	pl_u8(&p, FZ_CHUNK_DATA);
	pl_bytes(&p, s, strlen(s));
	rec_pl(g, FZ_CHUNK, slot, &p);
}

static void chunk(struct gs *g, unsigned slot, unsigned kind, unsigned arg)
{
	unsigned char p[2] = { (unsigned char)kind, (unsigned char)arg };

	rec(g, FZ_OP(FZ_CHUNK, slot), p, sizeof(p));
}

/* ---- the seeds ---------------------------------------------------------- */

static void s_hello_status(struct gs *g)
{
	attach(g);
	req0(g, 0, TETHER_OP_STATUS);
	req0(g, 0, TETHER_OP_POLICY);
	loop(g, 2);
}

static void s_hello_takeover(struct gs *g)
{
	attach(g);
	hello(g, 1, FZ_HELLO_PLAIN, 0, 0);		/* EBUSY */
	loop(g, 2);
	hello(g, 2, FZ_HELLO_PLAIN, TETHER_HELLO_TAKEOVER, 0);
	loop(g, 2);
	req0(g, 2, TETHER_OP_STATUS);
	loop(g, 2);
}

static void s_hello_generation(struct gs *g)
{
	/* The generation when the input began: right for the first
	 * take-over, stale for the second. */
	attach(g);
	hello(g, 1, FZ_HELLO_PLAIN, TETHER_HELLO_TAKEOVER, 2);
	loop(g, 2);
	hello(g, 2, FZ_HELLO_PLAIN, TETHER_HELLO_TAKEOVER, 2);
	loop(g, 2);
}

static void s_hello_observer(struct gs *g)
{
	struct pl p;

	attach(g);
	hello(g, 1, FZ_HELLO_PLAIN, TETHER_HELLO_OBSERVE, 0);
	loop(g, 2);
	call_begin(&p, FZ_SC_GETPID, 0, 0);
	rec_pl(g, FZ_CALL, 1, &p);			/* EBUSY */
	req0(g, 1, TETHER_OP_STATUS);
	req0(g, 1, TETHER_OP_LIST_FDS);
	req0(g, 1, TETHER_OP_PENDING);
	loop(g, 2);
}

static void s_hello_probe(struct gs *g)
{
	hello(g, 0, FZ_HELLO_NOFDS, TETHER_HELLO_PROBE, 0);
	hello(g, 1, FZ_HELLO_PLAIN, TETHER_HELLO_PROBE, 0);
	hello(g, 2, FZ_HELLO_PLAIN, TETHER_HELLO_PROBE | TETHER_HELLO_OBSERVE,
	      0);
	loop(g, 3);
}

/* One refused handshake per variant. */
static void s_hello_bad(struct gs *g)
{
	static const unsigned char junk[] = { 0, 0, 0, 9, 0x93, 1, 1, 0x93,
					      1, 0 };

	hello(g, 0, FZ_HELLO_NOFDS, 0, 0);
	hello(g, 1, FZ_HELLO_ONEFD, 0, 0);
	hello(g, 2, FZ_HELLO_THREEFDS, 0, 0);
	hello(g, 3, FZ_HELLO_NOTSOCK, 0, 0);
	loop(g, 3);
	hello(g, 0, FZ_HELLO_DGRAM, 0, 0);
	hello(g, 1, FZ_HELLO_PLAIN | FZ_HELLO_VERSION2, 0, 0);
	hello(g, 2, FZ_HELLO_PLAIN | FZ_HELLO_BADPID, 0, 0);
	hello(g, 3, FZ_HELLO_PLAIN | FZ_HELLO_BADOP, 0, 0);
	loop(g, 3);
	hello(g, 0, FZ_HELLO_PLAIN, 0x08, 0);		/* unknown flag */
	hello(g, 1, FZ_HELLO_SILENT, 0, 0);
	rec(g, FZ_OP(FZ_CLOSE, 1), (const unsigned char[]){ FZ_CLOSE_HS }, 1);
	{
		unsigned char p[3 + sizeof(junk)] = { FZ_HELLO_RAWPKT, 0, 0 };

		memcpy(p + 3, junk, sizeof(junk));
		rec(g, FZ_OP(FZ_HELLO, 2), p, sizeof(p));
	}
	loop(g, 3);
}

/* uname and fstat with their structs' sizes (390 and 144 bytes). */
static void s_uname(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_UNAME, 0, 1);
	arg_sized(&p, FZ_ARG_OUT, 390);
	CALL(g, &p);
	loop(g, 2);
}

static void s_uname_bug(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_UNAME, 0, 1);
	arg_sized(&p, FZ_ARG_OUT, 1);
	CALL(g, &p);
	loop(g, 2);
}

static void s_fstat(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_FSTAT, 0, 2);
	arg_i8(&p, 0);
	arg_sized(&p, FZ_ARG_OUT, 144);
	CALL(g, &p);
	loop(g, 2);
}

static void s_fstat_bug(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_FSTAT, 0, 2);
	arg_i8(&p, 0);
	arg_sized(&p, FZ_ARG_OUT, 8);
	CALL(g, &p);
	loop(g, 2);
}

/* The other info calls: their structs whole. */
static void s_info(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_GETPID, 0, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_GETTID, 0, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_SYSINFO, 0, 1);
	arg_sized(&p, FZ_ARG_OUT, 112);
	CALL(g, &p);
	call_begin(&p, FZ_SC_CLOCK_GETTIME, 0, 2);
	arg_i8(&p, 1);
	arg_sized(&p, FZ_ARG_OUT, 16);
	CALL(g, &p);
	call_begin(&p, FZ_SC_GETRANDOM, 0, 3);
	arg_sized(&p, FZ_ARG_OUT, 32);
	arg_i8(&p, 32);
	arg_i8(&p, 0);
	CALL(g, &p);
	loop(g, 3);
}

/* read and write on a memfd: fd 3. */
static void s_memfd_rw(struct gs *g)
{
	struct pl p;

	attach(g);
	memfd(g);
	call_begin(&p, FZ_SC_WRITE, 0, 3);
	arg_i8(&p, 3);
	arg_in(&p, "hello", 5);
	arg_i8(&p, 5);
	CALL(g, &p);
	call_begin(&p, FZ_SC_LSEEK, 0, 3);
	arg_i8(&p, 3);
	arg_i8(&p, 0);
	arg_i8(&p, SEEK_SET);
	CALL(g, &p);
	call_begin(&p, FZ_SC_READ, 0, 3);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_OUT, 16);
	arg_i8(&p, 16);
	CALL(g, &p);
	call_begin(&p, FZ_SC_PREAD64, TETHER_CALL_NOTRIM, 4);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_OUT, 8);
	arg_i8(&p, 8);
	arg_i8(&p, 1);
	CALL(g, &p);
	call_begin(&p, FZ_SC_PWRITE64, 0, 4);
	arg_i8(&p, 3);
	arg_inout(&p, "xy", 2, 4);
	arg_i8(&p, 4);
	arg_i8(&p, 2);
	CALL(g, &p);
	call_begin(&p, FZ_SC_FTRUNCATE, 0, 2);
	arg_i8(&p, 3);
	arg_u16(&p, 4096);
	CALL(g, &p);
	call_begin(&p, FZ_SC_FSTAT, 0, 2);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_OUT, 144);
	CALL(g, &p);
	call_begin(&p, FZ_SC_DUP, 0, 1);
	arg_i8(&p, 3);
	CALL(g, &p);
	call_begin(&p, FZ_SC_DUP3, 0, 3);
	arg_i8(&p, 3);
	arg_i8(&p, 9);
	arg_i8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_CLOSE, 0, 1);
	arg_i8(&p, 3);
	CALL(g, &p);
	call_begin(&p, FZ_SC_CLOSE_RANGE, 0, 3);
	arg_i8(&p, 4);
	arg_i8(&p, 9);
	arg_i8(&p, 0);
	CALL(g, &p);
	loop(g, 3);
}

/* pipe2, socketpair, eventfd2, mmap, poll: the other fd makers. */
static void s_fds(struct gs *g)
{
	static const unsigned char pfd[8] = { 3, 0, 0, 0, POLLIN, 0, 0, 0 };
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_PIPE2, 0, 2);
	arg_sized(&p, FZ_ARG_OUT, 8);
	arg_u16(&p, O_NONBLOCK);
	CALL(g, &p);
	call_begin(&p, FZ_SC_SOCKETPAIR, 0, 4);
	arg_i8(&p, 1);
	arg_u16(&p, 1 | 0x800);
	arg_i8(&p, 0);
	arg_sized(&p, FZ_ARG_OUT, 8);
	CALL(g, &p);
	call_begin(&p, FZ_SC_EVENTFD2, 0, 2);
	arg_i8(&p, 0);
	arg_u16(&p, 0x800);
	CALL(g, &p);
	call_begin(&p, FZ_SC_MMAP, 0, 6);
	arg_i8(&p, 0);
	arg_u16(&p, 4096);
	arg_i8(&p, 3);
	arg_i8(&p, 0x22);
	arg_i8(&p, -1);
	arg_i8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_POLL, 0, 3);
	arg_inout(&p, pfd, sizeof(pfd), sizeof(pfd));
	arg_i8(&p, 1);
	arg_i8(&p, 5);
	CALL(g, &p);
	loop(g, 3);
	sleep_ms(g, 8);
	loop(g, 2);
}

/* A BATCH: memfd_create, then its result as the fd of what follows. */
static void s_batch_refs(struct gs *g)
{
	struct pl p = { .n = 0 }, e;

	attach(g);
	pl_u8(&p, 5);					/* 6 entries */
	pl_u8(&p, TETHER_BATCH_STOP);
	call_memfd(&e);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_WRITE, 0, 3);
	arg_ref(&e, 0);
	arg_in(&e, "data", 4);
	arg_i8(&e, 4);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_LSEEK, 0, 3);
	arg_ref(&e, 0);
	arg_i8(&e, 0);
	arg_i8(&e, SEEK_SET);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_READ, 0, 3);
	arg_ref(&e, 0);
	arg_sized(&e, FZ_ARG_OUT, 8);
	arg_i8(&e, 8);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_FSTAT, 0, 2);
	arg_ref(&e, 0);
	arg_sized(&e, FZ_ARG_OUT, 144);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_CLOSE, 0, 1);
	arg_ref(&e, 0);
	pl_bytes(&p, e.b, e.n);
	rec_pl(g, FZ_BATCH, 0, &p);
	loop(g, 3);
}

/* BATCHes refused as a whole, and entries that fail in turn. */
static void s_batch_errors(struct gs *g)
{
	struct pl p = { .n = 0 }, e;

	attach(g);
	pl_u8(&p, 0xff);				/* no entry */
	pl_u8(&p, 0);
	rec_pl(g, FZ_BATCH, 0, &p);
	p.n = 0;
	pl_u8(&p, 0xfe);				/* 257 */
	pl_u8(&p, 0);
	rec_pl(g, FZ_BATCH, 0, &p);
	p.n = 0;
	pl_u8(&p, 1);					/* 2 entries */
	pl_u8(&p, 0);
	call_begin(&e, FZ_SC_CLOSE, 0, 1);
	arg_ref(&e, 1);					/* not run yet */
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_OPENAT, 0, 3);		/* the policy */
	arg_i8(&e, -100);
	arg_str(&e, "/etc/hostname");
	arg_i8(&e, 0);
	pl_bytes(&p, e.b, e.n);
	rec_pl(g, FZ_BATCH, 0, &p);
	p.n = 0;
	pl_u8(&p, 2);					/* 3, STOP */
	pl_u8(&p, TETHER_BATCH_STOP);
	call_begin(&e, FZ_SC_DUP, 0, 1);
	arg_i8(&e, 99);					/* EBADF: stop */
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_CLOSE, 0, 1);
	arg_ref(&e, 0);
	pl_bytes(&p, e.b, e.n);
	call_begin(&e, FZ_SC_GETPID, 0, 0);
	pl_bytes(&p, e.b, e.n);
	rec_pl(g, FZ_BATCH, 0, &p);
	loop(g, 3);
}

/* ---- SUBMIT and REAP ----------------------------------------------------- */

/* A request body spelled out byte by byte (it may hold NULs). */
struct body {
	const char *b;
	size_t n;
};
#define BODY(s) { s, sizeof(s) - 1 }

static void req_raw(struct gs *g, unsigned slot, unsigned op,
		    const struct body *b)
{
	struct pl p = { .n = 0 };

	pl_u8(&p, op);
	pl_bytes(&p, b->b, b->n);
	rec_pl(g, FZ_REQ, slot, &p);
}

/* A SUBMIT rides the BATCH record (FZ_BF_SUBMIT): count byte, flags
 * byte, then the entries' CALL payloads. */
static void submit_begin(struct pl *p, unsigned count, unsigned flags)
{
	p->n = 0;
	pl_u8(p, count);
	pl_u8(p, FZ_BF_SUBMIT | flags);
}

static void submit_add(struct pl *p, const struct pl *e)
{
	pl_bytes(p, e->b, e->n);
}

/* poll(pipe's read end 3, POLLIN, 10 ms): runs until its timeout. */
static void call_poll_pipe(struct pl *p, unsigned flags)
{
	static const unsigned char pfd[8] = { 3, 0, 0, 0, POLLIN, 0, 0, 0 };

	call_begin(p, FZ_SC_POLL, flags, 3);
	arg_inout(p, pfd, sizeof(pfd), sizeof(pfd));
	arg_i8(p, 1);
	arg_i8(p, 10);
}

/* pipe2(O_NONBLOCK): the session's fds 3 and 4. */
static void pipe_nb(struct gs *g)
{
	struct pl p;

	call_begin(&p, FZ_SC_PIPE2, 0, 2);
	arg_sized(&p, FZ_ARG_OUT, 8);
	arg_u16(&p, O_NONBLOCK);
	CALL(g, &p);
}

/* REAP with 0 to 3 of [min, max, wait_ms], each packed as given. */
static void reap(struct gs *g, unsigned slot, unsigned n, uint64_t min,
		 uint64_t max, int64_t wait)
{
	struct req r;
	msgpack_packer *pk = req_begin(&r, TETHER_OP_REAP);

	msgpack_pack_array(pk, n);
	if (n > 0)
		msgpack_pack_uint64(pk, min);
	if (n > 1)
		msgpack_pack_uint64(pk, max);
	if (n > 2)
		msgpack_pack_int64(pk, wait);
	req_end(g, slot, &r);
}

/* Calls that run at once, in the ring and by a helper, reaped in parts;
 * then a REAP that waits (negative wait_ms: for ever) for a poll, a
 * second REAP refused while it waits, and one whose wait_ms ends it. */
static void s_submit_reap(struct gs *g)
{
	struct pl p, e;

	attach(g);
	pipe_nb(g);					/* fds 3, 4 */
	memfd(g);					/* fd 5 */
	call_begin(&e, FZ_SC_WRITE, 0, 3);
	arg_i8(&e, 5);
	arg_in(&e, "hello", 5);
	arg_i8(&e, 5);
	CALL(g, &e);
	submit_begin(&p, 5, 0);				/* 6 entries */
	call_begin(&e, FZ_SC_GETPID, 0, 0);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_PREAD64, TETHER_CALL_TRIM, 4);
	arg_i8(&e, 5);
	arg_sized(&e, FZ_ARG_OUT, 8);
	arg_i8(&e, 8);
	arg_i8(&e, 0);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_FSTAT, 0, 2);
	arg_i8(&e, 5);
	arg_sized(&e, FZ_ARG_OUT, 144);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_UNAME, TETHER_CALL_SYNC, 1);
	arg_sized(&e, FZ_ARG_OUT, 390);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_READ, 0, 3);		/* EAGAIN */
	arg_i8(&e, 3);
	arg_sized(&e, FZ_ARG_OUT, 16);
	arg_i8(&e, 16);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_PWRITE64, 0, 4);
	arg_i8(&e, 5);
	arg_in(&e, "xy", 2);
	arg_i8(&e, 2);
	arg_i8(&e, 1);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	loop(g, 2);
	reap(g, 0, 2, 1, 2, 0);				/* two of six */
	reap(g, 0, 0, 0, 0, 0);				/* the rest */
	reap(g, 0, 3, 0, 1024, 0);			/* nothing left */
	loop(g, 2);
	submit_begin(&p, 1, 0);				/* 2 entries */
	call_poll_pipe(&e, 0);
	submit_add(&p, &e);
	call_begin(&e, FZ_SC_GETTID, 0, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	reap(g, 0, 3, 2, 16, -5);			/* waits */
	reap(g, 0, 3, 1, 1, 0);				/* EBUSY */
	loop(g, 2);
	sleep_ms(g, 12);
	loop(g, 2);
	submit_begin(&p, 0, 0);				/* 1 entry */
	call_poll_pipe(&e, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	reap(g, 0, 3, 1, 1, 3);				/* 3 ms: empty */
	loop(g, 1);
	sleep_ms(g, 5);
	loop(g, 2);
	sleep_ms(g, 8);
	reap(g, 0, 1, 1, 0, 0);				/* the poll */
	loop(g, 3);
}

/* SUBMITs refused whole: no entry, one too many, unknown flags, an
 * entry with a bad number, a result reference, a data-socket buffer,
 * one the policy refuses, 7 arguments, and bodies of the wrong shape. */
static void s_submit_errors(struct gs *g)
{
	static const struct body bodies[] = {
		BODY("\x90"),					/* [] */
		BODY("\x91\xa1x"),				/* ["x"] */
		BODY("\x92\x91\x92\x27\x90\xa1" "0"),	/* flags "0" */
		BODY("\x93\x91\x92\x27\x90\x00\x01"),	/* 3 elements */
		BODY("\x91\x91\x01"),			/* entry 1 */
		BODY("\x92\x91\x92\x27\x90\xff"),		/* flags -1 */
		BODY("\x91\x90"),				/* [[]] */
		BODY("\x81\xa1x\x90"),			/* a map */
	};
	struct pl p, e;

	attach(g);
	memfd(g);					/* fd 3 */
	submit_begin(&p, 0xff, 0);			/* E2BIG */
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0xfe, 0);			/* 1025: E2BIG */
	call_begin(&e, FZ_SC_GETPID, 0, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, TETHER_BATCH_STOP);		/* flags 1 */
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, 0x80);			/* flags 0x80 */
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, FZ_BF_NOFLAGS);		/* [entries]: runs */
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 1, 0);				/* nr 5000 */
	submit_add(&p, &e);
	e.n = 0;
	pl_u8(&e, 0xf3);
	pl_u8(&e, 0x88);
	pl_u8(&e, 0);
	pl_u8(&e, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, 0);				/* reference */
	call_begin(&e, FZ_SC_CLOSE, 0, 1);
	arg_ref(&e, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, 0);				/* data socket */
	call_begin(&e, FZ_SC_WRITE, 0, 3);
	arg_i8(&e, 3);
	arg_sized(&e, FZ_ARG_DATA_IN, 5);
	arg_i8(&e, 5);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, 0);				/* the policy */
	call_begin(&e, FZ_SC_OPENAT, 0, 3);
	arg_i8(&e, -100);
	arg_str(&e, "/etc/hostname");
	arg_i8(&e, 0);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	submit_begin(&p, 0, 0);				/* E2BIG */
	call_begin(&e, FZ_SC_GETPID, 0, 7);
	for (int i = 0; i < 7; i++)
		arg_i8(&e, i);
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	loop(g, 2);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		req_raw(g, 0, TETHER_OP_SUBMIT, &bodies[i]);
	loop(g, 3);
}

/* REAP's bounds: max 0, over 1024 and 2^64-1, min over max, a negative
 * min, wrong types; wait_ms INT64_MIN and 2^64-1.  Then a REAP waiting
 * for ever whose controller leaves, and completions left parked
 * (and one dropped, DETACH_CANCEL) for the next controller. */
static void s_reap_hostile(struct gs *g)
{
	static const struct body bodies[] = {
		BODY("\x91\xff"),				/* [-1] */
		BODY("\x91\xa1" "1"),				/* ["1"] */
		/* wait_ms 2^64-1: past int64 */
		BODY("\x93\x01\x01\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
		BODY("\x94\x00\x01\x00\x09"),		/* 4 elements */
		BODY("\x80"),					/* {} */
		BODY("\x93\xc0\xc0\xc0"),			/* nils */
	};
	struct pl p, e;

	attach(g);
	reap(g, 0, 2, 1, 0, 0);				/* max 0 */
	reap(g, 0, 2, 1, UINT64_MAX, 0);
	reap(g, 0, 2, 1, TETHER_SUBMIT_MAX + 1, 0);
	reap(g, 0, 2, 5, 2, 0);				/* min > max */
	reap(g, 0, 1, UINT64_MAX, 0, 0);
	reap(g, 0, 3, 1, TETHER_SUBMIT_MAX, INT64_MIN);	/* none: at once */
	reap(g, 0, 3, 0, 1, -1);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		req_raw(g, 0, TETHER_OP_REAP, &bodies[i]);
	loop(g, 2);
	pipe_nb(g);					/* fds 3, 4 */
	submit_begin(&p, 1, 0);
	call_poll_pipe(&e, 0);				/* parked */
	submit_add(&p, &e);
	call_poll_pipe(&e, TETHER_CALL_DETACH_CANCEL);	/* dropped */
	submit_add(&p, &e);
	rec_pl(g, FZ_BATCH, 0, &p);
	reap(g, 0, 3, 2, 2, INT64_MIN);			/* waits */
	loop(g, 1);
	rec(g, FZ_OP(FZ_CLOSE, 0), (const unsigned char[]){ FZ_CLOSE_ALL }, 1);
	loop(g, 2);
	hello(g, 1, FZ_HELLO_PLAIN, 0, 0);
	loop(g, 2);
	req0(g, 1, TETHER_OP_PENDING);
	reap(g, 1, 3, 1, 8, 0);				/* not its own */
	sleep_ms(g, 12);
	loop(g, 2);
	req0(g, 1, TETHER_OP_PENDING);
	loop(g, 2);
}

/* UPGRADE: refused in process (ENOTSUP) after the path is checked
 * (relative, empty, a NUL, over PATH_MAX, not a string, too many
 * elements), and refused to an observer. */
static void s_upgrade(struct gs *g)
{
	static char longpath[4200];
	static const char *const paths[] = {
		"/usr/sbin/tetherd", "relative/tetherd", "", longpath,
	};
	struct req r;
	msgpack_packer *pk;

	longpath[0] = '/';
	memset(longpath + 1, 'a', sizeof(longpath) - 2);
	attach(g);
	req0(g, 0, TETHER_OP_UPGRADE);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		pk = req_begin(&r, TETHER_OP_UPGRADE);
		msgpack_pack_array(pk, 1);
		pk_str(pk, paths[i]);
		req_end(g, 0, &r);
	}
	pk = req_begin(&r, TETHER_OP_UPGRADE);		/* a NUL */
	msgpack_pack_array(pk, 1);
	msgpack_pack_str(pk, 5);
	msgpack_pack_str_body(pk, "/a\0bc", 5);
	req_end(g, 0, &r);
	req_ints(g, 0, TETHER_OP_UPGRADE, 1, 42, 0);
	pk = req_begin(&r, TETHER_OP_UPGRADE);
	msgpack_pack_array(pk, 2);
	pk_str(pk, "/usr/sbin/tetherd");
	msgpack_pack_int(pk, 1);
	req_end(g, 0, &r);
	loop(g, 2);
	hello(g, 1, FZ_HELLO_PLAIN, TETHER_HELLO_OBSERVE, 0);
	loop(g, 2);
	req0(g, 1, TETHER_OP_UPGRADE);			/* EBUSY */
	req0(g, 0, TETHER_OP_STATUS);
	loop(g, 2);
}

/* An ASYNC poll in the ring (10 ms at most), then PENDING, COLLECT,
 * CANCEL of it, and one whose controller leaves. */
static void s_async(struct gs *g)
{
	static const unsigned char pfd[8] = { 3, 0, 0, 0, POLLIN, 0, 0, 0 };
	unsigned char job[3];
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_PIPE2, 0, 2);		/* fds 3, 4 */
	arg_sized(&p, FZ_ARG_OUT, 8);
	arg_u16(&p, O_NONBLOCK);
	CALL(g, &p);
	call_begin(&p, FZ_SC_POLL, TETHER_CALL_ASYNC, 3);	/* job 1 */
	arg_inout(&p, pfd, sizeof(pfd), sizeof(pfd));
	arg_i8(&p, 1);
	arg_i8(&p, 10);
	CALL(g, &p);
	call_begin(&p, FZ_SC_READ, TETHER_CALL_ASYNC, 3);	/* job 2 */
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_OUT, 16);
	arg_i8(&p, 16);
	CALL(g, &p);
	loop(g, 2);
	job[0] = FZ_JOB_PENDING;
	job[1] = job[2] = 0;
	rec(g, FZ_OP(FZ_JOB, 0), job, 3);
	job[0] = FZ_JOB_COLLECT_WAIT;			/* job 1, wait 0 */
	rec(g, FZ_OP(FZ_JOB, 0), job, 3);
	job[0] = FZ_JOB_CANCEL;
	rec(g, FZ_OP(FZ_JOB, 0), job, 3);
	job[0] = FZ_JOB_COLLECT;			/* for ever */
	rec(g, FZ_OP(FZ_JOB, 0), job, 3);
	job[1] = 1;					/* job 2: done */
	rec(g, FZ_OP(FZ_JOB, 0), job, 3);
	loop(g, 3);
	sleep_ms(g, 12);
	loop(g, 2);
	/* Parked: submitted, then the controller went. */
	p.n = 0;
	pl_u8(&p, FZ_SC_POLL);
	pl_u8(&p, FZ_CF_TIMEOUT | TETHER_CALL_DETACH_CANCEL);
	pl_u8(&p, 5);					/* timeout_ms */
	pl_u8(&p, 3);
	arg_inout(&p, pfd, sizeof(pfd), sizeof(pfd));
	arg_i8(&p, 1);
	arg_i8(&p, 10);
	CALL(g, &p);
	loop(g, 1);
	rec(g, FZ_OP(FZ_CLOSE, 0), (const unsigned char[]){ FZ_CLOSE_ALL }, 1);
	loop(g, 2);
}

static void s_introspection(struct gs *g)
{
	attach(g);
	req0(g, 0, TETHER_OP_STATUS);
	req0(g, 0, TETHER_OP_LIST_FDS);
	req_ints(g, 0, TETHER_OP_LIST_FDS, 1, 3, 0);
	req0(g, 0, TETHER_OP_POLICY);
	req0(g, 0, TETHER_OP_PENDING);
	req0(g, 0, TETHER_OP_MEM_LIST);
	req0(g, 0, TETHER_OP_PERSIST);
	loop(g, 3);
}

static void s_label(struct gs *g)
{
	struct req r;
	msgpack_packer *pk;

	attach(g);
	memfd(g);
	pk = req_begin(&r, TETHER_OP_LABEL);
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, 3);
	pk_str(pk, "db");
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_LABEL);		/* EEXIST */
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, 0);
	pk_str(pk, "db");
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_LABEL);		/* EINVAL */
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, 3);
	pk_str(pk, "a\x01");
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_LABEL);		/* EBADF */
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, 99);
	pk_str(pk, "gone");
	req_end(g, 0, &r);
	req_ints(g, 0, TETHER_OP_UNLABEL, 1, 3, 0);
	pk = req_begin(&r, TETHER_OP_UNLABEL);		/* ENOENT */
	msgpack_pack_array(pk, 1);
	pk_str(pk, "db");
	req_end(g, 0, &r);
	loop(g, 3);
}

/* GC: a dry run, one that keeps fd 3, a bad keep list. */
static void s_gc(struct gs *g)
{
	struct req r;
	msgpack_packer *pk;

	attach(g);
	memfd(g);
	memfd(g);
	pk = req_begin(&r, TETHER_OP_GC);
	msgpack_pack_array(pk, 2);
	msgpack_pack_array(pk, 0);
	msgpack_pack_uint32(pk, TETHER_GC_DRY_RUN);
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_GC);
	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, 1);
	msgpack_pack_int(pk, 3);
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_GC);
	msgpack_pack_array(pk, 1);
	msgpack_pack_array(pk, 1);
	msgpack_pack_int(pk, -1);
	req_end(g, 0, &r);
	loop(g, 3);
}

/* PS, WAIT, LOGS, ACK, KILL, STOP of a worker that is not there; SPAWN
 * refused by the policy. */
static void s_workers(struct gs *g)
{
	struct req r;
	msgpack_packer *pk;

	attach(g);
	req0(g, 0, TETHER_OP_PS);
	req_ints(g, 0, TETHER_OP_WAIT, 2, 4242, 0);
	req_ints(g, 0, TETHER_OP_ACK, 1, 4242, 0);
	req_ints(g, 0, TETHER_OP_KILL, 2, 4242, 15);
	pk = req_begin(&r, TETHER_OP_LOGS);
	msgpack_pack_array(pk, 3);
	msgpack_pack_int(pk, 4242);
	msgpack_pack_int(pk, 0);
	msgpack_pack_false(pk);
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_STOP);
	msgpack_pack_array(pk, 2);
	pk_str(pk, "nope");
	msgpack_pack_int(pk, 10);
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_SPAWN);
	msgpack_pack_map(pk, 2);
	pk_str(pk, "argv");
	msgpack_pack_array(pk, 1);
	pk_str(pk, "/bin/true");
	pk_str(pk, "capture");
	msgpack_pack_true(pk);
	req_end(g, 0, &r);
	loop(g, 3);
}

static void mem(struct gs *g, unsigned what, unsigned k, unsigned off,
		uint32_t len)
{
	struct pl p = { .n = 0 };

	pl_u8(&p, what);
	pl_u8(&p, k);
	pl_u16(&p, off);
	pl_u32(&p, len);
	rec_pl(g, FZ_MEM, 0, &p);
}

/* Remote memory: allocate, fill from the data socket, read back. */
static void s_mem(struct gs *g)
{
	attach(g);
	mem(g, FZ_MEM_ALLOC, 0, 0, 4096);
	loop(g, 2);
	mem(g, FZ_MEM_WRITE, 0, 16, 16);
	loop(g, 2);
	chunk_data(g, 0, "0123456789abcdef");
	chunk(g, 0, FZ_CHUNK_END, 0);
	loop(g, 3);
	mem(g, FZ_MEM_READ, 0, 16, 16);
	loop(g, 4);
	mem(g, FZ_MEM_LIST, 0, 0, 0);
	mem(g, FZ_MEM_WRITE, 0, 4000, 4096);		/* EFAULT */
	mem(g, FZ_MEM_FREE, 0, 0, 0);
	mem(g, FZ_MEM_FREE, 0, 0, 0);			/* EFAULT */
	loop(g, 3);
}

/* A MEM_WRITE that the client aborts, one that gets too much. */
static void s_mem_abort(struct gs *g)
{
	attach(g);
	mem(g, FZ_MEM_ALLOC, 0, 0, 64);
	loop(g, 2);
	mem(g, FZ_MEM_WRITE, 0, 0, 8);
	loop(g, 2);
	chunk_data(g, 0, "abc");
	chunk(g, 0, FZ_CHUNK_ABORT, 5);
	loop(g, 3);
	attach(g);
	mem(g, FZ_MEM_ALLOC, 0, 0, 64);
	loop(g, 2);
	mem(g, FZ_MEM_WRITE, 0, 0, 4);
	loop(g, 2);
	chunk_data(g, 0, "too many bytes");
	chunk(g, 0, FZ_CHUNK_END, 0);
	loop(g, 3);
}

static void s_get_put(struct gs *g)
{
	struct req r;
	msgpack_packer *pk;

	attach(g);
	pk = req_begin(&r, TETHER_OP_GET);
	msgpack_pack_array(pk, 1);
	pk_str(pk, "/etc/hostname");
	req_end(g, 0, &r);
	pk = req_begin(&r, TETHER_OP_PUT);
	msgpack_pack_array(pk, 2);
	pk_str(pk, "/tmp/fuzz-put");
	msgpack_pack_int(pk, 0600);
	req_end(g, 0, &r);
	loop(g, 3);
}

static void sendfd(struct gs *g, unsigned obj, unsigned mode)
{
	unsigned char p[2] = { (unsigned char)obj, (unsigned char)mode };

	rec(g, FZ_OP(FZ_SENDFD, 0), p, sizeof(p));
}

/* GIVE fd 3 to the client; TAKE fds from it, one with a label, one
 * with nothing sent, one with two fds. */
static void s_give_take(struct gs *g)
{
	struct req r;
	msgpack_packer *pk;

	attach(g);
	memfd(g);
	req_ints(g, 0, TETHER_OP_GIVE, 1, 3, 0);
	req_ints(g, 0, TETHER_OP_GIVE, 1, 77, 0);	/* EBADF */
	loop(g, 2);
	sendfd(g, FZ_OBJ_MEMFD, FZ_SEND_ONE);
	req0(g, 0, TETHER_OP_TAKE);
	loop(g, 2);
	sendfd(g, FZ_OBJ_EVENTFD, FZ_SEND_ONE);
	pk = req_begin(&r, TETHER_OP_TAKE);
	msgpack_pack_array(pk, 1);
	pk_str(pk, "taken");
	req_end(g, 0, &r);
	loop(g, 2);
	req0(g, 0, TETHER_OP_TAKE);			/* ENOMSG */
	loop(g, 1);
	sendfd(g, FZ_OBJ_PIPE, FZ_SEND_TWO);
	req0(g, 0, TETHER_OP_TAKE);			/* EBADMSG */
	loop(g, 3);
}

/* write(3, [4, 5], 5) fed by chunks; read(3, [5, 5], 5) answered by
 * chunks. */
static void s_data_args(struct gs *g)
{
	struct pl p;

	attach(g);
	memfd(g);
	call_begin(&p, FZ_SC_WRITE, 0, 3);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_DATA_IN, 5);
	arg_i8(&p, 5);
	CALL(g, &p);
	loop(g, 2);
	chunk_data(g, 0, "hel");
	chunk_data(g, 0, "lo");
	chunk(g, 0, FZ_CHUNK_END, 0);
	loop(g, 3);
	call_begin(&p, FZ_SC_PREAD64, 0, 4);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_DATA_OUT, 5);
	arg_i8(&p, 5);
	arg_i8(&p, 0);
	CALL(g, &p);
	loop(g, 4);
	/* An in buffer whose stream is aborted: the connection ends. */
	call_begin(&p, FZ_SC_WRITE, 0, 3);
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_DATA_IN, 4);
	arg_i8(&p, 4);
	CALL(g, &p);
	loop(g, 2);
	chunk(g, 0, FZ_CHUNK_ABORT, 5);
	loop(g, 3);
}

/* SYSCALL bodies refused for their shape, their number or the policy. */
static void s_call_errors(struct gs *g)
{
	struct pl p;

	attach(g);
	call_begin(&p, FZ_SC_GETPID, 0, 7);		/* E2BIG */
	for (int i = 0; i < 7; i++)
		arg_i8(&p, i);
	CALL(g, &p);
	p.n = 0;
	pl_u8(&p, 0xf3);				/* nr 5000 */
	pl_u8(&p, 0x88);
	pl_u8(&p, 0);
	pl_u8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_GETPID, FZ_CF_BADFLAGS, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_EXIT_GROUP, 0, 1);	/* never */
	arg_i8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_OPENAT, 0, 3);		/* the policy */
	arg_i8(&p, -100);
	arg_str(&p, "/etc/passwd");
	arg_i8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_KILL, 0, 2);
	arg_i64(&p, 1);
	arg_i8(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_WRITE, 0, 3);		/* in-out too big */
	arg_i8(&p, 3);
	arg_inout(&p, "abcdef", 6, 2);
	arg_i8(&p, 2);
	CALL(g, &p);
	call_begin(&p, FZ_SC_READ, 0, 3);		/* count > buffer */
	arg_i8(&p, 3);
	arg_sized(&p, FZ_ARG_OUT, 4);
	arg_u16(&p, 4096);
	CALL(g, &p);
	call_begin(&p, FZ_SC_CLOSE, 0, 1);		/* reference */
	arg_ref(&p, 0);
	CALL(g, &p);
	call_begin(&p, FZ_SC_WRITE, 0, 3);		/* nil, bad tag */
	arg_i8(&p, 3);
	pl_u8(&p, FZ_ARG_NIL);
	pl_u8(&p, FZ_ARG_BADTAG);
	pl_u8(&p, 9);
	pl_u8(&p, 1);
	CALL(g, &p);
	call_begin(&p, FZ_SC_MUNMAP, 0, 2);
	arg_i64(&p, 0x10000);
	arg_u16(&p, 4096);
	CALL(g, &p);
	call_begin(&p, FZ_SC_READ, TETHER_CALL_SYNC | TETHER_CALL_TRIM, 3);
	arg_i8(&p, 1);					/* the policy: fd 1 */
	arg_sized(&p, FZ_ARG_OUT, 4);
	arg_i8(&p, 4);
	CALL(g, &p);
	loop(g, 3);
}

/* Frames the server must survive: the wrong shapes, an unknown op, HELLO
 * on the syscall socket, a header over the limit (answered E2BIG, its 3
 * MiB skipped); and, one per connection since each closes it, frames
 * that are not msgpack, nest too deep, or claim 2^32 elements. */
static void s_frames(struct gs *g)
{
	static const unsigned char c1[] = { 0xc1 };
	static const unsigned char empty[] = { 0x90 };
	static const unsigned char two[] = { 0x92, 0x01, 0x02 };
	static const unsigned char unknown[] = { 0x93, 0x05, 0x63, 0x90 };
	static const unsigned char noid[] = { 0x93, 0xa1, 'x', 0x04, 0x90 };
	static const unsigned char huge[] = { 0x00, 0x30, 0x00, 0x00, 0x93,
					      0x01, 0x04, 0x90 };
	static const unsigned char deep[] = { 0x93, 0x07, 0x04, 0x91, 0x91,
					      0x91, 0x91, 0x91, 0x91, 0x91,
					      0x91, 0x90 };
	static const unsigned char arr32[] = { 0x93, 0x08, 0x04, 0xdd, 0xff,
					       0x00, 0x00, 0x00 };

	attach(g);
	rec(g, FZ_OP(FZ_FRAME, 0), empty, sizeof(empty));
	rec(g, FZ_OP(FZ_FRAME, 0), two, sizeof(two));
	rec(g, FZ_OP(FZ_FRAME, 0), unknown, sizeof(unknown));
	rec(g, FZ_OP(FZ_FRAME, 0), noid, sizeof(noid));
	req0(g, 0, TETHER_OP_HELLO);
	loop(g, 2);
	rec(g, FZ_OP(FZ_RAW, 0), huge, sizeof(huge));	/* 3 MiB header */
	req0(g, 0, TETHER_OP_STATUS);			/* skipped with it */
	loop(g, 2);
	hello(g, 1, FZ_HELLO_PLAIN, TETHER_HELLO_OBSERVE, 0);
	hello(g, 2, FZ_HELLO_PLAIN, TETHER_HELLO_OBSERVE, 0);
	hello(g, 3, FZ_HELLO_PLAIN, TETHER_HELLO_OBSERVE, 0);
	loop(g, 2);
	rec(g, FZ_OP(FZ_FRAME, 1), c1, sizeof(c1));
	rec(g, FZ_OP(FZ_FRAME, 2), deep, sizeof(deep));
	rec(g, FZ_OP(FZ_FRAME, 3), arr32, sizeof(arr32));
	req0(g, 1, TETHER_OP_STATUS);			/* never answered */
	loop(g, 3);
}

/* A frame in pieces, then the peer shuts its writing side. */
static void s_partial(struct gs *g)
{
	static const unsigned char a[] = { 0x00, 0x00, 0x00, 0x04, 0x93 };
	static const unsigned char b[] = { 0x01, 0x04, 0x90, 0x00, 0x00 };

	attach(g);
	rec(g, FZ_OP(FZ_RAW, 0), a, sizeof(a));
	loop(g, 1);
	rec(g, FZ_OP(FZ_RAW, 0), b, sizeof(b));
	loop(g, 1);
	rec(g, FZ_OP(FZ_CLOSE, 0),
	    (const unsigned char[]){ FZ_CLOSE_SHUT_SFD }, 1);
	loop(g, 2);
}

static void s_shutdown(struct gs *g)
{
	attach(g);
	req0(g, 0, TETHER_OP_SHUTDOWN);
	loop(g, 2);
	req0(g, 0, TETHER_OP_STATUS);
	loop(g, 2);
}

struct seed {
	const char *name;
	void (*build)(struct gs *g);
};

static const struct seed seeds[] = {
	{ "hello_status", s_hello_status },
	{ "hello_takeover", s_hello_takeover },
	{ "hello_generation", s_hello_generation },
	{ "hello_observer", s_hello_observer },
	{ "hello_probe", s_hello_probe },
	{ "hello_bad", s_hello_bad },
	{ "syscall_uname_390", s_uname },
	{ "syscall_uname_1_bug", s_uname_bug },
	{ "syscall_fstat_144", s_fstat },
	{ "syscall_fstat_8_bug", s_fstat_bug },
	{ "syscall_info", s_info },
	{ "syscall_memfd_rw", s_memfd_rw },
	{ "syscall_fds", s_fds },
	{ "syscall_errors", s_call_errors },
	{ "syscall_data_args", s_data_args },
	{ "batch_refs", s_batch_refs },
	{ "batch_errors", s_batch_errors },
	{ "async_pending_collect_cancel", s_async },
	{ "submit_reap", s_submit_reap },
	{ "submit_errors", s_submit_errors },
	{ "reap_hostile", s_reap_hostile },
	{ "upgrade_refused", s_upgrade },
	{ "status_list_fds_policy", s_introspection },
	{ "label_unlabel", s_label },
	{ "gc", s_gc },
	{ "workers_missing", s_workers },
	{ "mem_alloc_write_read", s_mem },
	{ "mem_write_abort", s_mem_abort },
	{ "get_put_refused", s_get_put },
	{ "give_take", s_give_take },
	{ "frames_bad", s_frames },
	{ "frames_partial", s_partial },
	{ "shutdown", s_shutdown },
};

static int write_seed(const char *dir, const struct seed *s)
{
	static struct gs g;
	char path[4096];
	int fd, rc;

	g.n = 0;
	s->build(&g);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, s->name) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = tp_write_all(fd, g.b, g.n);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "gen_server_corpus: %s: %s\n", path,
			strerror(-rc));
	return rc;
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++)
		failed |= write_seed(argv[1], &seeds[i]) < 0;
	return failed;
}
