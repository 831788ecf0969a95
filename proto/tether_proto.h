/*
 * tether wire protocol: the constants both ends agree on.
 *
 * Every message is a frame: a 4-byte big-endian payload length followed by
 * one msgpack value.  Requests are [id, op, body], replies [id, err, body].
 * man/tether-protocol.7 is the normative description; keep the two in step.
 */
#ifndef TETHER_PROTO_H
#define TETHER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define TETHER_PROTO_VERSION 1

/* Hard limits.  Every size read off the wire is checked against these
 * before anything is allocated. */
#define TETHER_FRAME_HDR 4u
#define TETHER_FRAME_MAX (2u << 20)	/* payload bytes of one frame */
#define TETHER_BUF_MAX (1u << 20)	/* in+out buffer bytes of one call */
#define TETHER_STR_MAX 4096u		/* string argument, without NUL */
#define TETHER_NARGS_MAX 6u
#define TETHER_LABEL_MAX 255u
#define TETHER_KEEP_MAX 65536u		/* fds in one GC keep list */
#define TETHER_DEPTH_MAX 8u		/* msgpack nesting accepted */
#define TETHER_ARGV_MAX 1024u		/* argv/env entries of a SPAWN */
#define TETHER_SPAWN_FDS_MAX 64u	/* fd map entries of a SPAWN */
#define TETHER_LOG_CHUNK (256u << 10)	/* LOGS bytes per reply frame */
#define TETHER_BATCH_MAX 256u		/* entries of one BATCH */
#define TETHER_SUBMIT_MAX 1024u		/* entries of one SUBMIT, and
					 * completions of one REAP reply */

/* Operations (the "op" field of a request). */
enum tether_op {
	TETHER_OP_HELLO = 1,		/* handshake on the listening socket */
	TETHER_OP_SYSCALL = 2,
	TETHER_OP_PERSIST = 3,		/* make persistent */
	TETHER_OP_STATUS = 4,
	TETHER_OP_SHUTDOWN = 5,
	TETHER_OP_LIST_FDS = 6,
	TETHER_OP_LABEL = 7,
	TETHER_OP_UNLABEL = 8,
	TETHER_OP_GC = 9,
	TETHER_OP_SPAWN = 10,
	TETHER_OP_PS = 11,
	TETHER_OP_WAIT = 12,
	TETHER_OP_KILL = 13,
	TETHER_OP_STOP = 14,
	TETHER_OP_LOGS = 15,
	TETHER_OP_ACK = 16,
	TETHER_OP_PENDING = 17,
	TETHER_OP_COLLECT = 18,
	TETHER_OP_CANCEL = 19,
	TETHER_OP_BATCH = 20,
	TETHER_OP_GET = 21,		/* file -> data socket */
	TETHER_OP_PUT = 22,		/* data socket -> file, atomically */
	TETHER_OP_GIVE = 23,		/* a server fd to the controller */
	TETHER_OP_TAKE = 24,		/* a controller fd into the server */
	TETHER_OP_MEM_ALLOC = 25,
	TETHER_OP_MEM_FREE = 26,
	TETHER_OP_MEM_LIST = 27,
	TETHER_OP_MEM_WRITE = 28,	/* data socket -> server memory */
	TETHER_OP_MEM_READ = 29,	/* server memory -> data socket */
	TETHER_OP_POLICY = 30,		/* the syscall policy in force */
	TETHER_OP_RESPAWN = 31,		/* an ended worker, from its spec */
	TETHER_OP_SUBMIT = 32,		/* many calls at once, for REAP */
	TETHER_OP_REAP = 33,		/* SUBMIT's completions, many a frame */
	TETHER_OP_UPGRADE = 34,		/* execve a new tetherd, same pid */
	TETHER_OP_MAX_
};

/* GC flags (second element of the body). */
#define TETHER_GC_DRY_RUN 0x1u

/* HELLO flags. */
#define TETHER_HELLO_TAKEOVER 0x1u	/* replace an attached controller */
#define TETHER_HELLO_OBSERVE 0x2u	/* read-only observer connection */
#define TETHER_HELLO_PROBE 0x4u		/* the status only: attach nothing */
#define TETHER_HELLO_CAUSE 0x8u		/* error replies may name their cause */

/* Argument tags: an argument is a msgpack integer, a bin (in buffer), a
 * str (NUL-terminated string) or an array [tag, ...] below. */
enum tether_arg_tag {
	TETHER_ARGTAG_OUT = 1,		/* [1, size] */
	TETHER_ARGTAG_INOUT = 2,	/* [2, bin, size] */
	TETHER_ARGTAG_RESULT = 3,	/* [3, k]: BATCH entry k's result */
	TETHER_ARGTAG_DATA_IN = 4,	/* [4, size]: in bytes on the data socket */
	TETHER_ARGTAG_DATA_OUT = 5,	/* [5, size]: out bytes on the data socket */
};

/* The data socket carries chunks: an 8-byte header (big-endian length,
 * big-endian kind) and, for DATA, that many bytes.  One transfer at a
 * time per connection; it ends with END, or ABORT (length = errno). */
#define TETHER_CHUNK_HDR 8u
#define TETHER_CHUNK_MAX (1u << 20)
enum tether_chunk_kind {
	TETHER_CHUNK_DATA = 0,
	TETHER_CHUNK_END = 1,
	TETHER_CHUNK_ABORT = 2,
	/* A PUT whose temporary was passed to the controller (fdpass): no
	 * DATA, one FDDONE of 16 bytes, big-endian bytes written and their
	 * XXH3-64, instead of END. */
	TETHER_CHUNK_FDDONE = 3,
};
#define TETHER_FDDONE_LEN 16u
/* Buffers above this go over the data socket, not in the frame. */
#define TETHER_INLINE_MAX (64u << 10)
#define TETHER_MEM_MAX (1ull << 32)	/* one remote allocation */

/* SYSCALL request flags (third element of the body, optional). */
#define TETHER_CALL_TRIM 0x1u		/* trim first out buffer to ret */
#define TETHER_CALL_NOTRIM 0x2u		/* never trim, whatever the table says */
#define TETHER_CALL_ASYNC 0x4u		/* answer an id now; COLLECT the result */
#define TETHER_CALL_DETACH_CANCEL 0x8u	/* cancel, don't park, if we detach */
#define TETHER_CALL_SYNC 0x10u		/* never through the ring */
#define TETHER_CALL_FLAGS 0x1fu

/* BATCH flags. */
#define TETHER_BATCH_STOP 0x1u		/* stop at the first failing entry */

#endif
