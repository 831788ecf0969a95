/*
 * The script format of fuzz_server (the libFuzzer target) and of the
 * seeds gen_server_corpus writes: what both must agree on.  The format
 * itself is described at the top of fuzz_server.c.
 */
#ifndef FUZZ_SERVER_H
#define FUZZ_SERVER_H

#include <sys/syscall.h>

#define FZ_REC_HDR 3			/* op, length (2 bytes, big-endian) */
#define FZ_SLOTS 4			/* client sessions one script drives */

/* The low 4 bits of a record's op byte. */
enum fz_kind {
	FZ_HELLO = 0,			/* attach (or try to) in the slot */
	FZ_FRAME,		/* the payload, length-prefixed, on sfd */
	FZ_RAW,				/* the payload as it is, on sfd */
	FZ_DATA,			/* the payload as it is, on dfd */
	FZ_CHUNK,			/* a data-socket chunk built from it */
	FZ_SENDFD,			/* a byte and an fd on dfd (for TAKE) */
	FZ_LOOP,			/* server loop turns */
	FZ_DRAIN,			/* read what the server sent */
	FZ_CLOSE,			/* close (part of) the slot */
	FZ_REQ,				/* [id, op, raw msgpack body] */
	FZ_CALL,			/* a structured SYSCALL */
	FZ_BATCH,			/* a structured BATCH */
	FZ_JOB,				/* COLLECT / CANCEL / PENDING by job */
	FZ_MEM,				/* MEM_* on the server's allocations */
	FZ_SLEEP,			/* one loop turn that may wait */
	FZ_KINDS
};
/* Bits 4-5: the slot.  Bit 6: a loop turn and a drain after it. */
#define FZ_OP(kind, slot) ((unsigned)(kind) | (unsigned)(slot) << 4)
#define FZ_OP_TURN 0x40u

/* HELLO payload: variant, flags, generation, raw packet bytes. */
enum fz_hello {
	FZ_HELLO_PLAIN = 0,		/* both sockets */
	FZ_HELLO_NOFDS,
	FZ_HELLO_ONEFD,
	FZ_HELLO_THREEFDS,		/* a pipe end too */
	FZ_HELLO_NOTSOCK,	/* a pipe end instead of the syscall socket */
	FZ_HELLO_DGRAM,		/* a datagram socket as the data socket */
	FZ_HELLO_RAWPKT,	/* the packet is payload[3...], both fds */
	FZ_HELLO_SILENT,		/* connect, send nothing */
};
#define FZ_HELLO_VERSION2 0x08u		/* variant bit: version 2 */
#define FZ_HELLO_BADPID 0x10u		/* variant bit: pid is a string */
#define FZ_HELLO_BADOP 0x20u		/* variant bit: op 2, not HELLO */
/* Generation byte k: 0 leaves it out, else the server's generation when
 * the input began, plus k - 1. */

/* SENDFD payload: object, mode. */
enum fz_obj {
	FZ_OBJ_MEMFD = 0, FZ_OBJ_EVENTFD, FZ_OBJ_PIPE, FZ_OBJ_SOCKET,
	FZ_OBJ_DEVNULL, FZ_OBJS
};
enum fz_sendmode {
	FZ_SEND_ONE = 0,		/* one byte, one fd: what TAKE wants */
	FZ_SEND_TWO,			/* one byte, two fds */
	FZ_SEND_TWOBYTES,		/* two bytes, one fd */
	FZ_SEND_NOFD,			/* one byte, no fd */
	FZ_SENDMODES
};

/* CHUNK payload: kind, then as below. */
enum fz_chunk {
	FZ_CHUNK_DATA = 0,		/* data = payload[1...] */
	FZ_CHUNK_END,
	FZ_CHUNK_ABORT,			/* errno = payload[1] */
	FZ_CHUNK_LIAR,			/* length = payload[1..4], data after */
	FZ_CHUNK_ODDKIND,		/* kind = payload[1..4], length 0 */
	FZ_CHUNK_HUGE,			/* a DATA header of 2 MiB, no data */
	FZ_CHUNKS
};

/* CLOSE payload: mode. */
enum fz_close {
	FZ_CLOSE_ALL = 0, FZ_CLOSE_SFD, FZ_CLOSE_DFD, FZ_CLOSE_SHUT_SFD,
	FZ_CLOSE_HS, FZ_CLOSE_SHUT_DFD, FZ_CLOSES
};

/*
 * CALL payload: sel [nr-low] flags [timeout] nargs arg...
 *   sel < 0xe0: fz_calls[sel % FZ_NCALLS]; else nr = (sel & 0x1f) << 8 |
 *   the next byte (0 to 8191: numbers past 4095 are refused).
 *   flags: bits 0-4 the SYSCALL flags; FZ_CF_TIMEOUT: a timeout_ms byte
 *   follows; FZ_CF_BADFLAGS: flags packed as a str; FZ_CF_NOFLAGS: the
 *   body is [nr, args].  nargs: & 7 (7 is one too many).
 *   arg: a type byte (% FZ_ARGS) and what that type reads.
 */
#define FZ_CF_TIMEOUT 0x20u
#define FZ_CF_BADFLAGS 0x40u
#define FZ_CF_NOFLAGS 0x80u
enum fz_arg {
	FZ_ARG_I8 = 0,			/* 1 byte, sign-extended */
	FZ_ARG_U16,			/* 2 bytes */
	FZ_ARG_I64,			/* 8 bytes */
	FZ_ARG_OUT,			/* [1, size]: size 2 bytes */
	FZ_ARG_IN,			/* bin: length byte, bytes */
	FZ_ARG_INOUT,		/* [2, bin, size]: length, bytes, 2 bytes */
	FZ_ARG_STR,			/* str: length byte, bytes */
	FZ_ARG_DATA_IN,			/* [4, size]: 2 bytes */
	FZ_ARG_DATA_OUT,		/* [5, size]: 2 bytes */
	FZ_ARG_RESULT,			/* [3, k]: 1 byte */
	FZ_ARG_NIL,			/* nil: not an argument */
	FZ_ARG_BADTAG,			/* [tag, n]: 2 bytes */
	FZ_ARGS
};

/*
 * BATCH payload: count flags entry...  count 0xff: no entry, 0xfe: one
 * too many (257 for BATCH, 1025 for SUBMIT), else count % 16 + 1; the
 * entries are CALL payloads, read again from the first when the bytes
 * run out.  flags: bit 0 STOP, FZ_BF_NOFLAGS: the body is [entries],
 * FZ_BF_SUBMIT: the same body goes as a SUBMIT [entries, flags] (whose
 * only valid flags are 0), so that SUBMIT's entries are a byte flip away
 * from BATCH's; REAP goes by REQ.
 */
#define FZ_BF_NOFLAGS 0x02u
#define FZ_BF_SUBMIT 0x04u

/* JOB payload: what, k, wait.  The id is the k-th job the server
 * started in this input (ids count from the job counter at its start);
 * wait is a signed byte (ms, -1 for ever). */
enum fz_job { FZ_JOB_COLLECT = 0, FZ_JOB_COLLECT_WAIT, FZ_JOB_CANCEL,
	      FZ_JOB_PENDING, FZ_JOBS };

/* MEM payload: what, k, offset (2 bytes), length (4 bytes).  The address
 * is that of the server's k-th allocation (newest first) plus offset, 0
 * when it has none; ALLOC's size is the length. */
enum fz_mem { FZ_MEM_ALLOC = 0, FZ_MEM_WRITE, FZ_MEM_READ, FZ_MEM_FREE,
	      FZ_MEM_LIST, FZ_MEMS };

/* The syscalls a CALL selects: the fuzzing policy's, then a few it
 * refuses (and some tetherd refuses whatever the policy says). */
static const long fz_calls[] = {
	SYS_getpid, SYS_getppid, SYS_gettid, SYS_getuid, SYS_uname,
	SYS_sysinfo, SYS_clock_gettime, SYS_getrandom, SYS_fstat, SYS_read,
	SYS_write, SYS_pread64, SYS_pwrite64, SYS_lseek, SYS_ftruncate,
	SYS_close, SYS_close_range, SYS_dup, SYS_dup3, SYS_memfd_create,
	SYS_pipe2, SYS_socketpair, SYS_eventfd2, SYS_mmap, SYS_poll,
	/* refused */
	SYS_nanosleep, SYS_munmap, SYS_openat, SYS_kill, SYS_exit_group,
	SYS_mprotect, SYS_fcntl,
};
#define FZ_NCALLS (sizeof(fz_calls) / sizeof(fz_calls[0]))
enum fz_call {
	FZ_SC_GETPID = 0, FZ_SC_GETPPID, FZ_SC_GETTID, FZ_SC_GETUID,
	FZ_SC_UNAME, FZ_SC_SYSINFO, FZ_SC_CLOCK_GETTIME, FZ_SC_GETRANDOM,
	FZ_SC_FSTAT, FZ_SC_READ, FZ_SC_WRITE, FZ_SC_PREAD64, FZ_SC_PWRITE64,
	FZ_SC_LSEEK, FZ_SC_FTRUNCATE, FZ_SC_CLOSE, FZ_SC_CLOSE_RANGE,
	FZ_SC_DUP, FZ_SC_DUP3, FZ_SC_MEMFD_CREATE, FZ_SC_PIPE2,
	FZ_SC_SOCKETPAIR, FZ_SC_EVENTFD2, FZ_SC_MMAP, FZ_SC_POLL,
	FZ_SC_NANOSLEEP, FZ_SC_MUNMAP, FZ_SC_OPENAT, FZ_SC_KILL,
	FZ_SC_EXIT_GROUP, FZ_SC_MPROTECT, FZ_SC_FCNTL,
};

#endif
