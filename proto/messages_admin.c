/*
 * Errors, the handshake, and the requests about the server itself:
 * HELLO and the status it answers (STATUS answers the same map),
 * PERSIST, STATUS, SHUTDOWN, POLICY; and the notice a controller that
 * was taken over gets.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "messages.h"
#include "messages_table.h"

/* ---- errors and notices: the body is the text -------------------------- */

/* The body with a cause: {text, cause}, read and written by the table. */
static const struct tp_field tp_error_cause_f[] = {
	TP_FIELD(tp_error, TP_K_TEXT, text, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_error, TP_K_CAUSE, cause, TP_F_STR, TP_REQ, 0),
};
static TP_MAP_DESC(error_cause, "error", tp_error, tp_error_cause_f);

static int tp_error_pack(struct tp_w *w, const void *m)
{
	const struct tp_error *x = m;

	if ((x->has & TP_ERROR_CAUSE) && x->cause.p)
		return tp_pack(w, &tp_error_cause_desc, x);
	return tp_w_str(w, x->text.p ? x->text.p : "",
			x->text.p ? x->text.n : 0);
}

/* A str, or (from a server asked for causes) {text, cause}. */
static int tp_error_unpack(const msgpack_object *o, void *m, struct tp_err *e)
{
	struct tp_error tmp, *x = m ? m : &tmp;
	int rc;

	memset(x, 0, sizeof(*x));
	if (o->type == MSGPACK_OBJECT_MAP) {
		if ((rc = tp_unpack(o, &tp_error_cause_desc, x, e)) < 0)
			return rc;
		x->has = TP_ERROR_CAUSE;
		return 0;
	}
	if (tp_obj_str(o, &x->text.p, &x->text.n) < 0)
		return tp_fail(e, &tp_error_desc, 0, "not a string");
	return 0;
}

const struct tp_desc tp_error_desc = {
	.name = "error",
	.shape = TP_CUSTOM,
	.size = sizeof(struct tp_error),
	.schema = "str or {text: str, cause: str}",
	.pack = tp_error_pack,
	.unpack = tp_error_unpack,
};

int tp_msg_error_cause(struct tp_msg *m, uint64_t id, int err,
		       const char *cause, const char *fmt, ...)
{
	struct tp_error x = { 0 };
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!cause)
		return tp_msg_error(m, id, err, "%s", text);
	x.has = TP_ERROR_CAUSE;
	x.text = tp_str(text);
	x.cause = tp_str(cause);
	tp_msg_reply(m, id, err);
	tp_pack_error(&m->w, &x);
	return tp_msg_finish(m);
}

/* ---- HELLO -------------------------------------------------------------- */

static const struct tp_field tp_hello_f[] = {
	TP_FIELD(tp_hello, "version", version, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_hello, "flags", flags, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_hello, "pid", pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_hello, "generation", generation, TP_F_U64, 0,
		 TP_HELLO_GENERATION),
};
TP_ARRAY_DESC(hello, "HELLO", tp_hello, tp_hello_f, 3);

/* What both the HELLO answer and STATUS carry is required; the rest is
 * one's or the other's. */
static const struct tp_field tp_status_f[] = {
	TP_FIELD(tp_status, TP_K_VERSION, version, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_GENERATION, generation, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_ARCH, arch, TP_F_STR, 0, TP_STATUS_ARCH),
	TP_FIELD(tp_status, TP_K_AUDIT_ARCH, audit_arch, TP_F_U64, 0,
		 TP_STATUS_AUDIT_ARCH),
	TP_FIELD(tp_status, TP_K_SYSCALL_FD, syscall_fd, TP_F_I64, 0,
		 TP_STATUS_SYSCALL_FD),
	TP_FIELD(tp_status, TP_K_DATA_FD, data_fd, TP_F_I64, 0,
		 TP_STATUS_DATA_FD),
	TP_FIELD(tp_status, TP_K_PERSISTENT, persistent, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_ATTACHED, attached, TP_F_BOOL, 0,
		 TP_STATUS_ATTACHED),
	TP_FIELD(tp_status, TP_K_CONTROLLER_PID, controller_pid, TP_F_I64, 0,
		 TP_STATUS_CONTROLLER_PID),
	TP_FIELD(tp_status, TP_K_CONTROLLER_SINCE, controller_since, TP_F_I64,
		 0, TP_STATUS_CONTROLLER_SINCE),
	TP_FIELD(tp_status, TP_K_UPTIME_MS, uptime_ms, TP_F_U64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_NFDS, nfds, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_NINTERNAL, ninternal, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_NLABELS, nlabels, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_NOBSERVERS, nobservers, TP_F_I64, 0,
		 TP_STATUS_NOBSERVERS),
	TP_FIELD(tp_status, TP_K_OBSERVER, observer, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_SOCKET, socket, TP_F_STR, TP_NIL,
		 TP_STATUS_SOCKET),
	TP_FIELD(tp_status, TP_K_CHILDREN, children, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_WORKERS, workers, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_status, TP_K_HELPERS, helpers, TP_F_I64, 0,
		 TP_STATUS_HELPERS),
	TP_FIELD(tp_status, TP_K_HELPERS_BUSY, helpers_busy, TP_F_I64, 0,
		 TP_STATUS_HELPERS_BUSY),
	TP_FIELD(tp_status, TP_K_HELPERS_SYSCALLS, helpers_syscalls, TP_F_I64,
		 0, TP_STATUS_HELPERS_SYSCALLS),
	TP_FIELD(tp_status, TP_K_JOBS, jobs, TP_F_I64, 0, TP_STATUS_JOBS),
	TP_FIELD(tp_status, TP_K_SERVER_VERSION, server_version, TP_F_STR, 0,
		 TP_STATUS_SERVER_VERSION),
	TP_FIELD(tp_status, TP_K_BINARY, binary, TP_F_STR, 0,
		 TP_STATUS_BINARY),
	TP_FIELD(tp_status, TP_K_UPGRADES, upgrades, TP_F_I64, 0,
		 TP_STATUS_UPGRADES),
	TP_FIELD(tp_status, TP_K_UPGRADE_ERROR, upgrade_error, TP_F_STR, 0,
		 TP_STATUS_UPGRADE_ERROR),
	TP_FIELD(tp_status, TP_K_UPGRADE_FAILURES, upgrade_failures, TP_F_I64,
		 0, TP_STATUS_UPGRADE_FAILURES),
	TP_FIELD(tp_status, TP_K_FD_LIMIT, fd_limit, TP_F_I64, 0,
		 TP_STATUS_FD_LIMIT),
	TP_FIELD(tp_status, TP_K_FD_LIMIT_MAX, fd_limit_max, TP_F_I64, 0,
		 TP_STATUS_FD_LIMIT_MAX),
	TP_FIELD(tp_status, TP_K_SPARE_FDS, spare_fds, TP_F_I64, 0,
		 TP_STATUS_SPARE_FDS),
};
TP_MAP_DESC(status, "status", tp_status, tp_status_f);

/* ---- PERSIST, STATUS, SHUTDOWN, POLICY --------------------------------- */

/* Bodies nobody reads: whatever comes is accepted, [] is sent. */
const struct tp_desc tp_persist_desc = {
	.name = "PERSIST", .shape = TP_ARRAY, .lax = true,
	.size = sizeof(struct tp_empty),
};

static const struct tp_field tp_persist_reply_f[] = {
	TP_FIELD(tp_persist_reply, TP_K_PERSISTENT, persistent, TP_F_BOOL,
		 TP_REQ, 0),
	TP_FIELD(tp_persist_reply, TP_K_SID, sid, TP_F_I64, TP_REQ, 0),
};
TP_MAP_DESC(persist_reply, "PERSIST reply", tp_persist_reply,
	    tp_persist_reply_f);

const struct tp_desc tp_status_req_desc = {
	.name = "STATUS", .shape = TP_ARRAY, .lax = true,
	.size = sizeof(struct tp_empty),
};

/* [true] forces; anything else does not (and is no error). */
static const struct tp_field tp_shutdown_f[] = {
	TP_FIELD(tp_shutdown, "force", force, TP_F_BOOL, TP_LAX,
		 TP_SHUTDOWN_FORCE),
};
const struct tp_desc tp_shutdown_desc = {
	.name = "SHUTDOWN", .shape = TP_ARRAY, .lax = true,
	.nfields = TP_NFIELDS(tp_shutdown_f), .size = sizeof(struct tp_shutdown),
	.f = tp_shutdown_f,
};

const struct tp_desc tp_shutdown_reply_desc = {
	.name = "SHUTDOWN reply", .shape = TP_NILBODY,
	.size = sizeof(struct tp_empty),
};

static const struct tp_field tp_upgrade_f[] = {
	TP_FIELD(tp_upgrade, TP_K_BINARY, binary, TP_F_STR, 0,
		 TP_UPGRADE_BINARY),
};
TP_ARRAY_DESC(upgrade, "UPGRADE", tp_upgrade, tp_upgrade_f, 0);

static const struct tp_field tp_upgrade_reply_f[] = {
	TP_FIELD(tp_upgrade_reply, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_upgrade_reply, TP_K_BINARY, binary, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_upgrade_reply, TP_K_SERVER_VERSION, server_version,
		 TP_F_STR, TP_REQ, 0),
};
TP_MAP_DESC(upgrade_reply, "UPGRADE reply", tp_upgrade_reply,
	    tp_upgrade_reply_f);

const struct tp_desc tp_policy_desc = {
	.name = "POLICY", .shape = TP_ARRAY, .lax = true,
	.size = sizeof(struct tp_empty),
};

static const struct tp_field tp_policy_reply_f[] = {
	TP_FIELD(tp_policy_reply, TP_K_ACTIVE, active, TP_F_BOOL, TP_REQ, 0),
	TP_FIELD(tp_policy_reply, TP_K_PATH, path, TP_F_STR, 0,
		 TP_POLICY_PATH),
	TP_FIELD(tp_policy_reply, TP_K_DEFAULT, default_rule, TP_F_STR, 0,
		 TP_POLICY_DEFAULT),
	TP_LIST(tp_policy_reply, TP_K_RULES, rules, TP_F_CSTR, 0,
		TP_POLICY_RULES, NULL),
};
TP_MAP_DESC(policy_reply, "POLICY reply", tp_policy_reply,
	    tp_policy_reply_f);

/* ---- the take-over notice ----------------------------------------------- */

static const struct tp_field tp_taken_over_f[] = {
	TP_FIELD(tp_taken_over, TP_K_TEXT, text, TP_F_STR, TP_REQ, 0),
	TP_FIELD(tp_taken_over, TP_K_PID, pid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_taken_over, TP_K_UID, uid, TP_F_I64, TP_REQ, 0),
	TP_FIELD(tp_taken_over, TP_K_GENERATION, generation, TP_F_U64, TP_REQ,
		 0),
};
TP_MAP_DESC(taken_over, "taken_over notice", tp_taken_over,
	    tp_taken_over_f);
