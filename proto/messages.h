/*
 * The wire schema in one place: every message body of tether-protocol(7)
 * -- requests, replies, interim replies, the parts they nest -- as a C
 * struct, and one pack and one unpack function for each, used by tetherd
 * and libtether alike.  Map keys exist only here, as TP_K_*.
 *
 * Most messages are a table of fields (messages.c reads it): a map's
 * key, or an array element's place, its type, where it lives in the
 * struct, and whether it must be there.  The packer counts the entries it
 * writes; the unpacker refuses a body without a required key, or with a
 * key of the wrong type, naming both the key and the message (-EPROTO,
 * or the message's own errno where the protocol says so).  SYSCALL and
 * what it nests are hand-written (msg_exec.c): they are the hot path, and
 * their errors have errnos of their own.
 *
 * Every struct starts with `uint32_t has`: one bit per optional field
 * that is present (the TP_<MSG>_<KEY> bits below), and for an integer
 * that may be nil, one that says it is not.  Unpacked strings, bins and
 * lists point into the decoded frame: they live as long as it does.
 * Unpacking allocates nothing, and packing only what the frame's buffer
 * grows by.
 *
 * The messages are listed in TP_MESSAGES below in the order
 * tether-protocol(7) describes them (tests/test_messages.c checks that
 * the page lists each one, its keys and their types, in that order).
 */
#ifndef TETHER_MESSAGES_H
#define TETHER_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <msgpack.h>

#include "proto.h"

/* ---- the keys ----------------------------------------------------------- */

#define TP_K_ACTIVE "active"
#define TP_K_ADDR "addr"
#define TP_K_AFTER_MS "after_ms"
#define TP_K_ARGS "args"
#define TP_K_ARCH "arch"
#define TP_K_ARGV "argv"
#define TP_K_ARGV_TRUNCATED "argv_truncated"
#define TP_K_ASYNC_ID "async_id"
#define TP_K_ATTACHED "attached"
#define TP_K_AUDIT_ARCH "audit_arch"
#define TP_K_BATCH "batch"
#define TP_K_BYTES "bytes"
#define TP_K_CANCELLED "cancelled"
#define TP_K_CAPTURE "capture"
#define TP_K_CAUSE "cause"
#define TP_K_CAPTURED "captured"
#define TP_K_CGROUP "cgroup"
#define TP_K_CHILDREN "children"
#define TP_K_CLEAR_ENV "clear_env"
#define TP_K_CLOEXEC "cloexec"
#define TP_K_CLOSED "closed"
#define TP_K_COMPLETED "completed"
#define TP_K_COMPLETIONS "completions"
#define TP_K_CONTROLLER_PID "controller_pid"
#define TP_K_CONTROLLER_SINCE "controller_since"
#define TP_K_CORE "core"
#define TP_K_CWD "cwd"
#define TP_K_DATA "data"
#define TP_K_DATA_FD "data_fd"
#define TP_K_DATA_LOST "data_lost"
#define TP_K_DEFAULT "default"
#define TP_K_DONE "done"
#define TP_K_DRY_RUN "dry_run"
#define TP_K_END "end"
#define TP_K_ENDED "ended"
#define TP_K_ENV "env"
#define TP_K_EXIT_CODE "exit_code"
#define TP_K_FAMILY "family"
#define TP_K_FD "fd"
#define TP_K_FDS "fds"
#define TP_K_FDLEN "fdlen"
#define TP_K_FDOFF "fdoff"
#define TP_K_FDPASS "fdpass"
#define TP_K_FLAGS "flags"
#define TP_K_GENERATION "generation"
#define TP_K_GID "gid"
#define TP_K_HELPERS "helpers"
#define TP_K_HELPERS_BUSY "helpers_busy"
#define TP_K_HELPERS_SYSCALLS "helpers_syscalls"
#define TP_K_ID "id"
#define TP_K_IDS "ids"
#define TP_K_INTERNAL "internal"
#define TP_K_IS_BATCH "is_batch"
#define TP_K_JOBS "jobs"
#define TP_K_SERVER_VERSION "server_version"
#define TP_K_BINARY "binary"
#define TP_K_UPGRADES "upgrades"
#define TP_K_UPGRADE_FAILURES "upgrade_failures"
#define TP_K_FD_LIMIT "fd_limit"
#define TP_K_FD_LIMIT_MAX "fd_limit_max"
#define TP_K_SPARE_FDS "spare_fds"
#define TP_K_UPGRADE_ERROR "upgrade_error"
#define TP_K_KEPT "kept"
#define TP_K_KIND "kind"
#define TP_K_LABEL "label"
#define TP_K_LOG "log"
#define TP_K_LOG_MAX "log_max"
#define TP_K_LOG_SIZE "log_size"
#define TP_K_MAXRSS_KB "maxrss_kb"
#define TP_K_MEMS "mems"
#define TP_K_MODE "mode"
#define TP_K_NEXT "next"
#define TP_K_NFDS "nfds"
#define TP_K_NINTERNAL "ninternal"
#define TP_K_NLABELS "nlabels"
#define TP_K_NOBSERVERS "nobservers"
#define TP_K_NR "nr"
#define TP_K_OBSERVER "observer"
#define TP_K_OFFSET "offset"
#define TP_K_ORPHANS_REAPED "orphans_reaped"
#define TP_K_PARKED_BYTES "parked_bytes"
#define TP_K_PARKED_LOST "parked_lost"
#define TP_K_PATH "path"
#define TP_K_PENDING "pending"
#define TP_K_PERSISTENT "persistent"
#define TP_K_PGID "pgid"
#define TP_K_PGROUP "pgroup"
#define TP_K_PID "pid"
#define TP_K_POLICY "policy"
#define TP_K_POLICY_NAME "policy_name"
#define TP_K_QUEUED "queued"
#define TP_K_READY "ready"
#define TP_K_RESULT "result"
#define TP_K_RESULTS "results"
#define TP_K_RET "ret"
#define TP_K_RLIMITS "rlimits"
#define TP_K_ROLE "role"
#define TP_K_RULES "rules"
#define TP_K_RUNNING "running"
#define TP_K_RUSAGE "rusage"
#define TP_K_SEND "send"
#define TP_K_SETSID "setsid"
#define TP_K_SID "sid"
#define TP_K_SIGKILL "sigkill"
#define TP_K_SIGNAL "signal"
#define TP_K_SINCE "since"
#define TP_K_SIZE "size"
#define TP_K_SOCKET "socket"
#define TP_K_SOCKTYPE "socktype"
#define TP_K_STARTED "started"
#define TP_K_STATE "state"
#define TP_K_STIME_US "stime_us"
#define TP_K_STOPPED_AT "stopped_at"
#define TP_K_SYSCALL_FD "syscall_fd"
#define TP_K_TARGET "target"
#define TP_K_TEXT "text"
#define TP_K_TIMEOUT "timeout"
#define TP_K_UID "uid"
#define TP_K_UPTIME_MS "uptime_ms"
#define TP_K_USEC "usec"
#define TP_K_USER "user"
#define TP_K_UTIME_US "utime_us"
#define TP_K_VERSION "version"
#define TP_K_WAITED "waited"
#define TP_K_WHERE "where"
#define TP_K_WORKERS "workers"
#define TP_K_XXH3 "xxh3"
#define TP_K_CHILD_FD "child_fd"
#define TP_K_ENV_TRUNCATED "env_truncated"
#define TP_K_GROUPS "groups"
#define TP_K_POLICY_XXH3 "policy_xxh3"
#define TP_K_RESPAWNED_FROM "respawned_from"
#define TP_K_SERVER_FD "server_fd"
#define TP_K_SPEC "spec"
#define TP_K_STOP_DEADLINE_MS "stop_deadline_ms"
#define TP_K_STOP_SIGNAL "stop_signal"

/* ---- values the fields hold ------------------------------------------- */

/* A str: n bytes at p, not NUL-terminated once unpacked.  p NULL is nil,
 * where a field may be nil. */
struct tp_str {
	const char *p;
	size_t n;
};

static inline struct tp_str tp_str(const char *s)
{
	struct tp_str v = { s, s ? strlen(s) : 0 };

	return v;
}

/* Does s hold exactly the C string c? */
static inline bool tp_str_is(struct tp_str s, const char *c)
{
	return s.p && strlen(c) == s.n && !memcmp(s.p, c, s.n);
}

struct tp_bin {
	const void *p;
	size_t n;
};

/* A pid or fd, or a name (a worker's or fd's label). */
struct tp_intstr {
	bool is_int;
	int64_t i;
	struct tp_str s;
};

/* An array.  Packing takes n elements from v (structs of the element
 * message, int64_t, or const char * for strings), or has each() pack
 * element i itself (a server listing what it holds builds nothing).
 * Unpacking leaves the n elements, already checked, in o: unpack element
 * i with the element message's unpack (tp_unpack_fdinfo(&l.o[i], ...)),
 * or read it with tp_obj_i64, tp_obj_str. */
struct tp_list {
	uint32_t n;
	const void *v;
	int (*each)(struct tp_w *w, const void *ctx, uint32_t i);
	const void *ctx;
	const msgpack_object *o;
};

/* What went wrong in an unpack, for the reply or the caller's error. */
struct tp_err {
	char msg[200];
};

/* ---- the engine: a message as a table -------------------------------- */

enum tp_ftype {
	TP_F_I64 = 1,		/* int64_t: an integer that fits */
	TP_F_U64,		/* uint64_t: a non-negative integer */
	TP_F_REG,		/* uint64_t: any integer mod 2^64, written
				 * unsigned (rlimits) */
	TP_F_SREG,		/* uint64_t: any integer mod 2^64, written
				 * signed (addresses, hashes) */
	TP_F_BOOL,		/* bool */
	TP_F_STR,		/* struct tp_str */
	TP_F_BIN,		/* struct tp_bin */
	TP_F_INTSTR,		/* struct tp_intstr */
	TP_F_LIST,		/* struct tp_list of .elem */
	TP_F_MSG,		/* the struct of message .sub, in place */
	TP_F_CSTR,		/* list elements: str (packed from char *) */
	TP_F_ANY,		/* list elements: anything (the reader checks) */
};

#define TP_REQ 0x1u		/* must be there; always packed */
#define TP_NIL 0x2u		/* may be nil: a str's p NULL, an integer's
				 * bit clear */
#define TP_LAX 0x4u		/* a value of another type reads as absent */
#define TP_DEFER 0x8u		/* a list whose elements the reader unpacks
				 * itself, with errors of its own */

struct tp_desc;

struct tp_field {
	const char *key;	/* map key, or what an array element is */
	uint16_t off;		/* offsetof in the message's struct */
	uint8_t type;		/* TP_F_* */
	uint8_t elem;		/* TP_F_LIST: its elements' type */
	uint8_t flags;		/* TP_REQ ... */
	uint32_t bit;		/* in has: present (optional), not nil (TP_NIL
				 * integers) */
	const struct tp_desc *sub; /* TP_F_MSG and lists of messages */
};

enum tp_shape {
	TP_MAP = 1,		/* {key: value ...} */
	TP_ARRAY,		/* [value ...], by place */
	TP_NILBODY,		/* nil */
	TP_CUSTOM,		/* pack and unpack below */
};

struct tp_desc {
	const char *name;	/* as tether-protocol(7) names it */
	uint8_t shape;		/* enum tp_shape */
	uint8_t nfields;
	uint8_t nreq;		/* TP_ARRAY: leading elements required */
	bool lax;		/* TP_ARRAY: any other body reads as empty */
	int err;		/* errno of a bad key or element; 0: EPROTO
				 * (a body of the wrong shape is EPROTO) */
	size_t size;		/* sizeof its struct */
	const struct tp_field *f;
	const char *schema;	/* TP_CUSTOM: its shape, as the page says */
	int (*pack)(struct tp_w *w, const void *m);
	int (*unpack)(const msgpack_object *o, void *m, struct tp_err *e);
};

/* m as d says, through w: w->err (0, or -ENOMEM once anything failed). */
int tp_pack(struct tp_w *w, const struct tp_desc *d, const void *m);
/* o into m (zeroed first), or, m NULL, only checked: 0, or -EPROTO (or
 * d's errno) with e->msg naming the message and the key. */
int tp_unpack(const msgpack_object *o, const struct tp_desc *d, void *m,
	      struct tp_err *e);
/* d's shape in one line, as tether-protocol(7) lists it:
 * "{pid: int, label: str|nil, argv?: [str]}".  Its length, as snprintf. */
int tp_schema(const struct tp_desc *d, char *buf, size_t size);
/* For messages.c and msg_*.c: an unpack failure of d's, formatted. */
int tp_fail(struct tp_err *e, const struct tp_desc *d, int err,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ---- the messages ------------------------------------------------------ */

/* [] (PERSIST, STATUS, PENDING, MEM_LIST, POLICY: whatever is sent), and
 * nil (SHUTDOWN's reply). */
struct tp_empty {
	uint32_t has;
};

/* [id, err, text]: the body of every error reply and notice.  On a
 * connection whose HELLO asked for TETHER_HELLO_CAUSE, an error whose
 * cause the server knows is {text, cause} instead (TP_ERROR_CAUSE). */
struct tp_error {
	uint32_t has;
	struct tp_str text;
	struct tp_str cause;		/* one of TP_CAUSE_* */
};
#define TP_ERROR_CAUSE 0x1u

/* Why a request failed, when it is not the request's own error (an
 * error's cause, and a SYSCALL reply's third element). */
#define TP_CAUSE_POLICY "policy"	/* the server's policy refused */
#define TP_CAUSE_ROLE "role"		/* an observer or read-only peer */
#define TP_CAUSE_TIMEOUT "timeout"	/* the request's own timeout */
#define TP_CAUSE_CONFLICT "conflict"	/* another controller attached */
#define TP_CAUSE_UPGRADE "upgrade"	/* the server is upgrading: reconnect */

struct tp_msg;
/* tp_msg_error, its body {text, cause} when cause is not NULL. */
int tp_msg_error_cause(struct tp_msg *m, uint64_t id, int err,
		       const char *cause, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* HELLO [version, flags, pid] or [version, flags, pid, generation]. */
struct tp_hello {
	uint32_t has;
	uint64_t version;
	uint64_t flags;
	int64_t pid;
	uint64_t generation;
};
#define TP_HELLO_GENERATION 0x1u

/* The HELLO answer and the STATUS reply: what the server is. */
struct tp_status {
	uint32_t has;
	int64_t version;
	int64_t pid;
	uint64_t generation;
	struct tp_str arch;		/* uname's machine name: x86_64 */
	uint64_t audit_arch;		/* AUDIT_ARCH_*: 0xc000003e */
	int64_t syscall_fd;		/* HELLO */
	int64_t data_fd;		/* HELLO */
	bool persistent;
	bool attached;			/* PROBE, STATUS */
	int64_t controller_pid;		/* PROBE, STATUS */
	int64_t controller_since;	/* STATUS */
	uint64_t uptime_ms;
	int64_t nfds;
	int64_t ninternal;
	int64_t nlabels;
	int64_t nobservers;		/* STATUS */
	bool observer;
	struct tp_str socket;		/* STATUS: str or nil */
	int64_t children;
	int64_t workers;
	int64_t helpers;		/* STATUS */
	int64_t helpers_busy;		/* STATUS */
	int64_t helpers_syscalls;	/* STATUS */
	int64_t jobs;			/* STATUS */
	struct tp_str server_version;	/* PACKAGE_VERSION of the binary */
	struct tp_str binary;		/* STATUS: what UPGRADE execs */
	int64_t upgrades;		/* STATUS: execs survived */
	struct tp_str upgrade_error;	/* STATUS: why the last one failed */
	int64_t upgrade_failures;	/* STATUS: UPGRADEs that did not */
	int64_t fd_limit, fd_limit_max;	/* STATUS: RLIMIT_NOFILE's */
	int64_t spare_fds;		/* STATUS: slots held for a rescue */
};
#define TP_STATUS_SYSCALL_FD 0x1u
#define TP_STATUS_DATA_FD 0x2u
#define TP_STATUS_ATTACHED 0x4u
#define TP_STATUS_CONTROLLER_PID 0x8u
#define TP_STATUS_CONTROLLER_SINCE 0x10u
#define TP_STATUS_NOBSERVERS 0x20u
#define TP_STATUS_SOCKET 0x40u
#define TP_STATUS_HELPERS 0x80u
#define TP_STATUS_HELPERS_BUSY 0x100u
#define TP_STATUS_HELPERS_SYSCALLS 0x200u
#define TP_STATUS_JOBS 0x400u
#define TP_STATUS_ARCH 0x800u
#define TP_STATUS_AUDIT_ARCH 0x1000u
#define TP_STATUS_SERVER_VERSION 0x2000u
#define TP_STATUS_BINARY 0x4000u
#define TP_STATUS_UPGRADES 0x8000u
#define TP_STATUS_UPGRADE_ERROR 0x10000u
#define TP_STATUS_UPGRADE_FAILURES 0x20000u
#define TP_STATUS_FD_LIMIT 0x40000u
#define TP_STATUS_FD_LIMIT_MAX 0x80000u
#define TP_STATUS_SPARE_FDS 0x100000u

/* One SYSCALL argument, as it travels. */
enum tp_arg_wire {
	TP_A_INT = 1,			/* an integer: v */
	TP_A_IN,			/* bin: n bytes at p */
	TP_A_STR,			/* str: n bytes at p */
	TP_A_OUT,			/* [1, size]: v bytes back */
	TP_A_INOUT,			/* [2, bin, size]: n at p in, v back */
	TP_A_RESULT,			/* [3, k]: BATCH entry v's result */
	TP_A_DATA_IN,			/* [4, size]: v bytes on the data socket */
	TP_A_DATA_OUT,			/* [5, size]: v bytes back on it */
};

struct tp_arg {
	uint8_t kind;			/* TP_A_* */
	uint64_t v;
	const void *p;
	size_t n;
};

/* A SYSCALL's arguments (and a COLLECT record's). */
struct tp_args {
	uint32_t has;
	uint32_t n;
	struct tp_arg a[TETHER_NARGS_MAX];
};

/* SYSCALL [nr, args], [nr, args, flags], [nr, args, flags, timeout_ms]. */
struct tp_syscall_req {
	uint32_t has;
	int64_t nr;
	struct tp_args args;
	uint64_t flags;
	uint64_t timeout_ms;
};
#define TP_SYSCALL_FLAGS 0x1u
#define TP_SYSCALL_TIMEOUT 0x2u		/* flags are then sent too */

/* One out buffer of a SYSCALL reply. */
enum tp_out_wire {
	TP_OUT_NIL = 0,			/* not an out buffer */
	TP_OUT_BIN,			/* bin: n bytes at p */
	TP_OUT_DATA,			/* {data: n}: n bytes on the data socket */
};

struct tp_out {
	uint8_t kind;			/* TP_OUT_* */
	const void *p;
	uint64_t n;
};

/* SYSCALL's reply [ret, outs]: one out per argument. */
struct tp_syscall_reply {
	uint32_t has;
	int64_t ret;
	uint32_t n;
	struct tp_out o[TETHER_NARGS_MAX];
	struct tp_str cause;		/* TP_SYSCALL_REPLY_CAUSE: TP_CAUSE_* */
};
#define TP_SYSCALL_REPLY_CAUSE 0x1u

/* {data: n}: an out buffer's bytes follow on the data socket. */
struct tp_syscall_data {
	uint32_t has;
	int64_t data;
};

/* An ASYNC call's reply {async_id, state}. */
struct tp_syscall_async {
	uint32_t has;
	uint64_t async_id;
	struct tp_str state;
};

/* {send: true}: a data-socket argument's bytes may come now. */
struct tp_syscall_send {
	uint32_t has;
	bool send;
};

/* PENDING's reply and its entries. */
struct tp_pending_reply {
	uint32_t has;
	struct tp_list pending;		/* of pending_entry */
	uint64_t parked_lost;
	uint64_t parked_bytes;
	uint64_t next;			/* paged: the next page's "before" */
};
#define TP_PENDING_NEXT 0x1u

struct tp_pending_entry {
	uint32_t has;
	uint64_t id;
	int64_t nr;
	struct tp_str state;
	int64_t since;
	uint64_t generation;
	bool batch;
	bool waited;
	struct tp_str where;
};

/* COLLECT [id] or [id, wait_ms]. */
struct tp_collect {
	uint32_t has;
	uint64_t id;
	int64_t wait_ms;
};
#define TP_COLLECT_WAIT_MS 0x1u

/* BATCH [entries] or [entries, flags]; its reply. */
struct tp_batch {
	uint32_t has;
	struct tp_list entries;		/* of syscall bodies */
	uint64_t flags;
};
#define TP_BATCH_FLAGS 0x1u

struct tp_batch_reply {
	uint32_t has;
	struct tp_list results;		/* of syscall_reply */
	int64_t stopped_at;
	int64_t completed;
};

/* SUBMIT [entries] or [entries, flags]: SYSCALL bodies run side by
 * side, each answered by REAP; its reply {ids}, one per entry. */
struct tp_submit {
	uint32_t has;
	struct tp_list entries;		/* of syscall bodies */
	uint64_t flags;
};
#define TP_SUBMIT_FLAGS 0x1u

struct tp_submit_reply {
	uint32_t has;
	struct tp_list ids;		/* of uint, in entry order */
};

/* REAP [min, max, wait_ms] (each optional, in that order); its reply
 * {completions, queued, running}, and one completion [id, result]. */
struct tp_reap {
	uint32_t has;
	uint64_t min;
	uint64_t max;
	int64_t wait_ms;
};
#define TP_REAP_MIN 0x1u
#define TP_REAP_MAX 0x2u
#define TP_REAP_WAIT_MS 0x4u

struct tp_reap_reply {
	uint32_t has;
	struct tp_list completions;	/* of reap_entry */
	uint64_t queued;		/* completions left for the next REAP */
	uint64_t running;		/* submitted, not yet complete */
};

struct tp_reap_entry {
	uint32_t has;
	uint64_t id;
	struct tp_syscall_reply result;
};

/* COLLECT's reply: a call's (or a BATCH's) record. */
struct tp_record {
	uint32_t has;
	uint64_t id;
	struct tp_str state;
	int64_t since;
	uint64_t generation;
	bool data_lost;
	bool is_batch;
	int64_t nr;
	struct tp_batch_reply batch;
	struct tp_args args;
	struct tp_syscall_reply result;
	int64_t ret;
};
#define TP_RECORD_NR 0x1u
#define TP_RECORD_BATCH 0x2u
#define TP_RECORD_ARGS 0x4u
#define TP_RECORD_RESULT 0x8u
#define TP_RECORD_RET 0x10u

/* CANCEL [id] and its reply {id, cancelled}. */
struct tp_cancel {
	uint32_t has;
	uint64_t id;
	bool cancelled;
};

/* GET [path]; PUT [path] or [path, mode].  A path of another type reads
 * as absent (the server answers EINVAL). */
struct tp_path {
	uint32_t has;
	struct tp_str path;
	int64_t mode;
	bool fdpass;			/* the controller takes an fd instead */
};
#define TP_PATH_PATH 0x1u
#define TP_PATH_MODE 0x2u
#define TP_PATH_FDPASS 0x4u

/* The interim replies of GET {size, mode}, PUT and MEM_WRITE {ready},
 * MEM_READ {size}. */
struct tp_ready {
	uint32_t has;
	uint64_t size;
	int64_t mode;
	bool ready;
	bool fdpass;			/* the file's fd is on the data socket */
};
#define TP_READY_FDPASS 0x1u

/* The final reply of GET, PUT, MEM_READ and MEM_WRITE. */
struct tp_xfer_done {
	uint32_t has;
	bool done;
	uint64_t bytes;
	uint64_t xxh3;
	struct tp_str path;		/* PUT */
};
#define TP_XFER_DONE_PATH 0x1u

/* GIVE [fd], and the {fd} GIVE and TAKE answer. */
struct tp_fd {
	uint32_t has;
	int64_t fd;
};

/* TAKE [] or [label] (a label of another type is ignored). */
struct tp_take {
	uint32_t has;
	struct tp_str label;
};
#define TP_TAKE_LABEL 0x1u

/* MEM_ALLOC [size], MEM_FREE [addr], MEM_WRITE and MEM_READ [addr, len]. */
struct tp_mem_req {
	uint32_t has;
	uint64_t addr;
	uint64_t size;
};

/* An allocation: MEM_ALLOC's reply {addr, size}, MEM_FREE's {addr},
 * MEM_LIST's entries. */
struct tp_mem {
	uint32_t has;
	uint64_t addr;
	uint64_t size;
	uint64_t generation;
	int64_t since;
};

struct tp_mem_list {
	uint32_t has;
	struct tp_list mems;		/* of mem_entry */
};

/* PERSIST's reply. */
struct tp_persist_reply {
	uint32_t has;
	bool persistent;
	int64_t sid;
};

/* SHUTDOWN [] or [force]: anything else is not forced. */
struct tp_shutdown {
	uint32_t has;
	bool force;
};
#define TP_SHUTDOWN_FORCE 0x1u

/* UPGRADE [] or [binary]: the tetherd to exec (default: the one the
 * server was started from, as that path names it now). */
struct tp_upgrade {
	uint32_t has;
	struct tp_str binary;
};
#define TP_UPGRADE_BINARY 0x1u

/* UPGRADE's reply, sent before the exec: who execs what. */
struct tp_upgrade_reply {
	uint32_t has;
	int64_t pid;
	struct tp_str binary;
	struct tp_str server_version;	/* the running (old) one's */
};

/* POLICY's reply: {active: false}, or the policy. */
struct tp_policy_reply {
	uint32_t has;
	bool active;
	struct tp_str path;
	struct tp_str default_rule;
	struct tp_list rules;		/* of str */
};
#define TP_POLICY_PATH 0x1u
#define TP_POLICY_DEFAULT 0x2u
#define TP_POLICY_RULES 0x4u

/* LIST_FDS [] or [from]; PS [] or [from]. */
struct tp_from {
	uint32_t has;
	int64_t from;
	uint64_t ufrom;			/* PS's is unsigned */
	bool labeled;			/* LIST_FDS: only labeled fds */
	bool paged;			/* LIST_FDS labeled: a page at a time */
};
#define TP_FROM_FROM 0x1u
#define TP_FROM_LABELED 0x2u
#define TP_FROM_PAGED 0x4u

struct tp_fd_list {
	uint32_t has;
	struct tp_list fds;		/* of fdinfo */
	struct tp_list internal;	/* of fdinfo */
	int64_t next;
};

struct tp_fdinfo {
	uint32_t has;
	int64_t fd;
	struct tp_str kind;
	struct tp_str target;
	int64_t flags;
	bool cloexec;
	struct tp_str label;		/* or nil */
	bool internal;
	struct tp_str family;		/* sockets */
	struct tp_str socktype;		/* sockets */
	struct tp_str role;		/* internal fds */
};
#define TP_FDINFO_FAMILY 0x1u
#define TP_FDINFO_SOCKTYPE 0x2u
#define TP_FDINFO_ROLE 0x4u

/* LABEL [fd, name] and UNLABEL [name] or [fd]; a name of another type
 * reads as absent (EINVAL).  Their reply {fd, label}. */
struct tp_label {
	uint32_t has;
	int64_t fd;
	struct tp_str name;
};
#define TP_LABEL_NAME 0x1u

struct tp_unlabel {
	uint32_t has;
	struct tp_intstr which;
};
#define TP_UNLABEL_WHICH 0x1u

struct tp_label_reply {
	uint32_t has;
	int64_t fd;
	struct tp_str label;
};

/* GC [keep] or [keep, flags] and its reply. */
struct tp_gc {
	uint32_t has;
	struct tp_list keep;		/* of int, checked by the server */
	uint64_t flags;
};
#define TP_GC_FLAGS 0x1u

struct tp_gc_reply {
	uint32_t has;
	struct tp_list closed;		/* of int */
	int64_t kept;
	bool dry_run;
	int64_t usec;
};

/* SPAWN's map (errors are EINVAL: tether-protocol(7)). */
struct tp_spawn {
	uint32_t has;
	struct tp_list argv;		/* of str */
	bool clear_env;
	bool capture;
	bool setsid;
	bool pgroup;
	struct tp_list env;		/* of "KEY=VALUE" */
	struct tp_str cwd;
	struct tp_str label;
	uint64_t log_max;
	struct tp_list fds;		/* of spawn_fd */
	struct tp_str user;
	int64_t uid;
	int64_t gid;
	struct tp_str cgroup;
	struct tp_list rlimits;		/* of spawn_rlimit */
	struct tp_str policy;		/* the text of a policy file */
	struct tp_str policy_name;
};
#define TP_SPAWN_CLEAR_ENV 0x1u
#define TP_SPAWN_CAPTURE 0x2u
#define TP_SPAWN_SETSID 0x4u
#define TP_SPAWN_PGROUP 0x8u
#define TP_SPAWN_ENV 0x10u
#define TP_SPAWN_CWD 0x20u
#define TP_SPAWN_LABEL 0x40u
#define TP_SPAWN_LOG_MAX 0x80u
#define TP_SPAWN_FDS 0x100u
#define TP_SPAWN_USER 0x200u
#define TP_SPAWN_UID 0x400u
#define TP_SPAWN_GID 0x800u
#define TP_SPAWN_CGROUP 0x1000u
#define TP_SPAWN_RLIMITS 0x2000u
#define TP_SPAWN_POLICY 0x4000u
#define TP_SPAWN_POLICY_NAME 0x8000u

/* [child_fd, server_fd] */
struct tp_spawn_fd {
	uint32_t has;
	int64_t child;
	int64_t server;
};

/* [resource, soft, hard] */
struct tp_spawn_rlimit {
	uint32_t has;
	int64_t resource;
	uint64_t soft;
	uint64_t hard;
};

struct tp_spawn_reply {
	uint32_t has;
	int64_t pid;
	struct tp_str label;		/* or nil */
	struct tp_str log;		/* or nil */
};

struct tp_ps_reply {
	uint32_t has;
	struct tp_list workers;		/* of worker */
	int64_t orphans_reaped;
	int64_t next;
};

struct tp_rusage {
	uint32_t has;
	int64_t utime_us;
	int64_t stime_us;
	int64_t maxrss_kb;
};

/* What the server keeps of a worker's SPAWN, resolved (PS). */
struct tp_worker_spec {
	uint32_t has;
	struct tp_list env;		/* of "K=V", the whole environment */
	bool env_truncated;
	struct tp_str path;		/* the executable, PATH searched */
	struct tp_str cwd;		/* or nil */
	struct tp_str user;		/* --user as given, or nil */
	int64_t uid;			/* TP_WSPEC_UID (always, today) */
	int64_t gid;			/* TP_WSPEC_GID (always, today) */
	struct tp_list groups;		/* of int */
	bool setsid;
	bool pgroup;
	struct tp_str cgroup;		/* or nil */
	struct tp_list fds;		/* of worker_fd */
	struct tp_list rlimits;		/* of spawn_rlimit */
	struct tp_str policy_name;	/* or nil */
	struct tp_str policy_xxh3;	/* 16 hex digits, or nil */
	bool capture;
	uint64_t log_max;
	struct tp_str log;		/* or nil */
};
#define TP_WSPEC_UID 0x1u
#define TP_WSPEC_GID 0x2u

/* An fd map entry as PS shows it: the server fd's label, if any. */
struct tp_worker_fd {
	uint32_t has;
	int64_t child;
	int64_t server;
	struct tp_str label;		/* or nil */
};

/* A worker record; WAIT's reply adds timeout, STOP's sigkill and
 * after_ms. */
struct tp_worker {
	uint32_t has;
	int64_t pid;
	struct tp_str label;		/* or nil */
	struct tp_list argv;		/* of str */
	bool argv_truncated;
	int64_t started;
	int64_t pgid;
	bool captured;
	int64_t log_size;
	struct tp_str state;
	int64_t exit_code;		/* TP_WORKER_EXIT_CODE, else nil */
	int64_t signal;			/* TP_WORKER_SIGNAL, else nil */
	bool core;
	int64_t ended;
	struct tp_rusage rusage;
	bool timeout;			/* WAIT */
	bool sigkill;			/* STOP */
	int64_t after_ms;		/* STOP */
	/* A STOP's grace running (state "stopping"): ms until SIGKILL (0
	 * once sent), and the signal sent last. */
	int64_t stop_deadline_ms;	/* TP_WORKER_STOP */
	int64_t stop_signal;		/* TP_WORKER_STOP_SIGNAL */
	struct tp_worker_spec spec;	/* PS: TP_WORKER_SPEC */
};
#define TP_WORKER_EXIT_CODE 0x1u
#define TP_WORKER_SIGNAL 0x2u
#define TP_WORKER_STOP 0x4u		/* stop_deadline_ms */
#define TP_WORKER_SPEC 0x8u
#define TP_WORKER_STOP_SIGNAL 0x10u

/* WAIT [target, timeout_ms?], KILL [target, signal], STOP [target,
 * grace_ms?], ACK [target], LOGS [target, from, follow]: a target of
 * another type than pid or label reads as absent (ESRCH). */
struct tp_target {
	uint32_t has;
	struct tp_intstr target;
	int64_t arg;			/* timeout_ms, signal, grace_ms, from */
	bool follow;			/* LOGS */
	bool fdpass;			/* LOGS: fds of the log welcome */
};
#define TP_TARGET_TARGET 0x1u
#define TP_TARGET_ARG 0x2u
#define TP_TARGET_FDPASS 0x4u

/* KILL's reply {pid, signal}, ACK's {pid}. */
struct tp_kill_reply {
	uint32_t has;
	int64_t pid;
	int64_t signal;
};

/* RESPAWN's reply: SPAWN's, and the record it replaced. */
struct tp_respawn_reply {
	uint32_t has;
	int64_t pid;
	struct tp_str label;		/* or nil */
	struct tp_str log;		/* or nil */
	int64_t respawned_from;
};

/* One LOGS frame. */
struct tp_logs_reply {
	uint32_t has;
	struct tp_bin data;
	uint64_t offset;
	bool end;
	/* fdpass: the log file's fd went on the data socket; it holds
	 * [offset, offset + fdlen) at file offset fdoff (data is empty). */
	uint64_t fdlen;
	uint64_t fdoff;
};
#define TP_LOGS_FD 0x1u			/* fdlen */
#define TP_LOGS_FDOFF 0x2u

/* The notice a replaced controller gets, [0, ECONNABORTED, taken_over],
 * just before the server drops it: who took over (SO_PEERCRED of the new
 * controller's handshake) and the generation it attached as. */
struct tp_taken_over {
	uint32_t has;
	struct tp_str text;
	int64_t pid;
	int64_t uid;
	uint64_t generation;
};

/*
 * Every message, in tether-protocol(7)'s order: X(name, struct).  Each
 * has tp_<name>_desc, tp_pack_<name>() and tp_unpack_<name>().
 */
#define TP_MESSAGES(X)                                                        \
	X(error, tp_error)                                                    \
	X(hello, tp_hello)                                                    \
	X(status, tp_status)                                                  \
	X(syscall, tp_syscall_req)                                                \
	X(syscall_args, tp_args)                                              \
	X(syscall_reply, tp_syscall_reply)                                    \
	X(syscall_data, tp_syscall_data)                                      \
	X(syscall_async, tp_syscall_async)                                    \
	X(syscall_send, tp_syscall_send)                                      \
	X(pending, tp_from)                                                   \
	X(pending_reply, tp_pending_reply)                                    \
	X(pending_entry, tp_pending_entry)                                    \
	X(collect, tp_collect)                                                \
	X(record, tp_record)                                                  \
	X(cancel, tp_cancel)                                                  \
	X(cancel_reply, tp_cancel)                                            \
	X(batch, tp_batch)                                                    \
	X(batch_reply, tp_batch_reply)                                        \
	X(submit, tp_submit)                                                  \
	X(submit_reply, tp_submit_reply)                                      \
	X(reap, tp_reap)                                                      \
	X(reap_reply, tp_reap_reply)                                          \
	X(reap_entry, tp_reap_entry)                                          \
	X(get, tp_path)                                                       \
	X(get_ready, tp_ready)                                                \
	X(xfer_done, tp_xfer_done)                                            \
	X(put, tp_path)                                                       \
	X(put_ready, tp_ready)                                                \
	X(give, tp_fd)                                                        \
	X(give_reply, tp_fd)                                                  \
	X(take, tp_take)                                                      \
	X(take_reply, tp_fd)                                                  \
	X(mem_alloc, tp_mem_req)                                              \
	X(mem_alloc_reply, tp_mem)                                            \
	X(mem_free, tp_mem_req)                                               \
	X(mem_free_reply, tp_mem)                                             \
	X(mem_list, tp_empty)                                                 \
	X(mem_list_reply, tp_mem_list)                                        \
	X(mem_entry, tp_mem)                                                  \
	X(mem_write, tp_mem_req)                                              \
	X(mem_write_ready, tp_ready)                                          \
	X(mem_read, tp_mem_req)                                               \
	X(mem_read_ready, tp_ready)                                           \
	X(persist, tp_empty)                                                  \
	X(persist_reply, tp_persist_reply)                                    \
	X(status_req, tp_empty)                                               \
	X(shutdown, tp_shutdown)                                              \
	X(shutdown_reply, tp_empty)                                           \
	X(upgrade, tp_upgrade)                                                \
	X(upgrade_reply, tp_upgrade_reply)                                    \
	X(policy, tp_empty)                                                   \
	X(policy_reply, tp_policy_reply)                                      \
	X(list_fds, tp_from)                                                  \
	X(list_fds_reply, tp_fd_list)                                         \
	X(fdinfo, tp_fdinfo)                                                  \
	X(label, tp_label)                                                    \
	X(label_reply, tp_label_reply)                                        \
	X(unlabel, tp_unlabel)                                                  \
	X(unlabel_reply, tp_label_reply)                                      \
	X(gc, tp_gc)                                                          \
	X(gc_reply, tp_gc_reply)                                              \
	X(spawn, tp_spawn)                                                    \
	X(spawn_fd, tp_spawn_fd)                                              \
	X(spawn_rlimit, tp_spawn_rlimit)                                      \
	X(spawn_reply, tp_spawn_reply)                                        \
	X(ps, tp_from)                                                        \
	X(ps_reply, tp_ps_reply)                                              \
	X(worker, tp_worker)                                                  \
	X(rusage, tp_rusage)                                                  \
	X(wait, tp_target)                                                    \
	X(wait_reply, tp_worker)                                              \
	X(kill, tp_target)                                                    \
	X(kill_reply, tp_kill_reply)                                          \
	X(stop, tp_target)                                                    \
	X(stop_reply, tp_worker)                                              \
	X(logs, tp_target)                                                    \
	X(logs_reply, tp_logs_reply)                                          \
	X(ack, tp_target)                                                     \
	X(ack_reply, tp_kill_reply)                                           \
	X(taken_over, tp_taken_over)                                          \
	X(worker_spec, tp_worker_spec)                                        \
	X(worker_fd, tp_worker_fd)                                            \
	X(respawn, tp_target)                                                 \
	X(respawn_reply, tp_respawn_reply)

#define TP_MESSAGE_FUNCS(name, type)                                          \
	extern const struct tp_desc tp_##name##_desc;                         \
	static inline int tp_pack_##name(struct tp_w *w, const struct type *m) \
	{                                                                     \
		return tp_pack(w, &tp_##name##_desc, m);                      \
	}                                                                     \
	static inline int tp_unpack_##name(const msgpack_object *o,           \
					   struct type *m, struct tp_err *e)  \
	{                                                                     \
		return tp_unpack(o, &tp_##name##_desc, m, e);                 \
	}
TP_MESSAGES(TP_MESSAGE_FUNCS)
#undef TP_MESSAGE_FUNCS

/* Every message's desc, in TP_MESSAGES order. */
extern const struct tp_desc *const tp_messages[];
extern const size_t tp_nmessages;

/* The body of an op's request, or NULL for an unknown op. */
const struct tp_desc *tp_request_desc(unsigned op);
/* The body of an op's final reply (what a client checks when it wants
 * nothing from it), or NULL for an op without one. */
const struct tp_desc *tp_reply_desc(unsigned op);

#endif
