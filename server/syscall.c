/*
 * SYSCALL: decode up to six marshalled arguments into registers, run the
 * syscall in the server's own thread, and answer [ret, outs].
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "call.h"
#include "policy.h"
#include "tetherd.h"

static int td_arg_alloc(struct td_req *r, struct td_call *c, unsigned i,
			size_t size)
{
	if (size > TETHER_BUF_MAX || c->bytes + size > TETHER_BUF_MAX)
		return td_req_fail(r, E2BIG,
				   "argument %u: buffers exceed %u bytes", i,
				   TETHER_BUF_MAX);
	c->bytes += size;
	/* Zeroed: bytes the syscall leaves alone must not carry old heap
	 * contents back to the controller. */
	if (!(c->a[i].buf = calloc(1, size ? size : 1)))
		return td_req_fail(r, ENOMEM, "argument %u: out of memory", i);
	c->a[i].size = size;
	c->a[i].reg = (uint64_t)(uintptr_t)c->a[i].buf;
	return 0;
}

static int td_arg_tagged(struct td_req *r, struct td_call *c, unsigned i,
			 const msgpack_object *o)
{
	size_t n;
	const msgpack_object *v = tp_obj_array(o, &n);
	uint64_t tag, size;
	const void *in = NULL;
	size_t inlen = 0;
	int rc;

	if (n < 2 || tp_obj_u64(&v[0], &tag) < 0)
		return td_req_fail(r, EINVAL, "argument %u: bad tagged form",
				   i);
	if ((tag == TETHER_ARGTAG_OUT || tag == TETHER_ARGTAG_DATA_OUT ||
	     tag == TETHER_ARGTAG_DATA_IN) && n == 2 &&
	    tp_obj_u64(&v[1], &size) == 0) {
		/* Big buffers come and go on the data socket, up to what one
		 * remote allocation may be. */
		c->a[i].kind = tag == TETHER_ARGTAG_DATA_IN ? TD_ARG_IN
							    : TD_ARG_OUT;
		c->a[i].via_data = tag != TETHER_ARGTAG_OUT;
		if (c->a[i].via_data) {
			if (size > (256u << 20))
				return td_req_fail(r, E2BIG, "argument %u: %llu "
						   "bytes exceeds 256 MiB", i,
						   (unsigned long long)size);
			if (!(c->a[i].buf = calloc(1, size ? size : 1)))
				return td_req_fail(r, ENOMEM, "argument %u: "
						   "out of memory", i);
			c->a[i].size = (size_t)size;
			c->a[i].reg = (uint64_t)(uintptr_t)c->a[i].buf;
			return 0;
		}
	} else if (tag == TETHER_ARGTAG_INOUT && n == 3 &&
		   tp_obj_bin(&v[1], &in, &inlen) == 0 &&
		   tp_obj_u64(&v[2], &size) == 0) {
		c->a[i].kind = TD_ARG_INOUT;
		if (inlen > size)
			return td_req_fail(r, EINVAL,
					   "argument %u: %zu bytes in, "
					   "capacity %llu", i, inlen,
					   (unsigned long long)size);
	} else if (tag == TETHER_ARGTAG_RESULT && n == 2 &&
		   tp_obj_u64(&v[1], &size) == 0) {
		c->a[i].kind = TD_ARG_RESULT;
		c->a[i].reg = size;	/* the entry index, resolved later */
		return 0;
	} else {
		return td_req_fail(r, EINVAL,
				   "argument %u: unknown tag or shape", i);
	}
	if (size > TETHER_BUF_MAX)
		return td_req_fail(r, E2BIG, "argument %u: %llu bytes exceeds "
				   "%u", i, (unsigned long long)size,
				   TETHER_BUF_MAX);
	if ((rc = td_arg_alloc(r, c, i, (size_t)size)) < 0)
		return rc;
	if (inlen)
		memcpy(c->a[i].buf, in, inlen);
	return 0;
}

static int td_arg_decode(struct td_req *r, struct td_call *c, unsigned i,
			 const msgpack_object *o)
{
	const void *p;
	size_t n;
	int rc;

	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		c->a[i].kind = TD_ARG_INT;
		return tp_obj_reg(o, &c->a[i].reg);
	case MSGPACK_OBJECT_BIN:
		tp_obj_bin(o, &p, &n);
		c->a[i].kind = TD_ARG_IN;
		if ((rc = td_arg_alloc(r, c, i, n)) < 0)
			return rc;
		memcpy(c->a[i].buf, p, n);
		return 0;
	case MSGPACK_OBJECT_STR:
		tp_obj_str(o, (const char **)&p, &n);
		c->a[i].kind = TD_ARG_STR;
		if (n > TETHER_STR_MAX)
			return td_req_fail(r, ENAMETOOLONG,
					   "argument %u: string of %zu bytes "
					   "exceeds %u", i, n, TETHER_STR_MAX);
		if (memchr(p, '\0', n))
			return td_req_fail(r, EINVAL,
					   "argument %u: string contains NUL",
					   i);
		if ((rc = td_arg_alloc(r, c, i, n + 1)) < 0)
			return rc;
		memcpy(c->a[i].buf, p, n);
		return 0;
	case MSGPACK_OBJECT_ARRAY:
		return td_arg_tagged(r, c, i, o);
	default:
		return td_req_fail(r, EINVAL,
				   "argument %u: msgpack type %d is not an "
				   "argument", i, (int)o->type);
	}
}

int td_call_decode(struct td_req *r, const msgpack_object *body,
		   struct td_call *c)
{
	size_t nb, na;
	const msgpack_object *b = tp_obj_array(body, &nb);
	const msgpack_object *args;
	int64_t nr;
	uint64_t flags = 0, timeout = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	c->data_idx = -1;
	if (!b || nb < 2 || nb > 4)
		return td_req_fail(r, EPROTO,
				   "SYSCALL body is [nr, args, flags, "
				   "timeout_ms] (the last two optional)");
	if (tp_obj_i64(&b[0], &nr) < 0 || nr < 0 || nr > 4095)
		return td_req_fail(r, EINVAL, "bad syscall number");
	if (!(args = tp_obj_array(&b[1], &na)))
		return td_req_fail(r, EPROTO, "SYSCALL args is not an array");
	if (na > TETHER_NARGS_MAX)
		return td_req_fail(r, E2BIG, "%zu arguments; at most %u", na,
				   TETHER_NARGS_MAX);
	if (nb >= 3 && tp_obj_u64(&b[2], &flags) < 0)
		return td_req_fail(r, EPROTO, "SYSCALL flags is not an uint");
	if (nb == 4 && tp_obj_u64(&b[3], &timeout) < 0)
		return td_req_fail(r, EPROTO, "SYSCALL timeout is not an uint");
	c->nr = (long)nr;
	c->nargs = (unsigned)na;
	c->flags = (unsigned)flags;
	c->timeout_ms = timeout;
	for (unsigned i = 0; i < c->nargs; i++)
		if ((rc = td_arg_decode(r, c, i, &args[i])) < 0)
			return rc;
	return 0;
}

void td_call_free(struct td_call *c)
{
	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++) {
		free(c->a[i].buf);
		c->a[i].buf = NULL;
	}
}

/* Remote memory goes through MEM_FREE, or its record would point at
 * nothing: a syscall that unmaps, remaps or maps over it is refused.
 * Returns why, or NULL. */
const char *td_call_mem_refused(struct td_server *srv, const struct td_call *c)
{
	if ((c->nr == SYS_munmap || c->nr == SYS_mremap ||
	     c->nr == SYS_mprotect || c->nr == SYS_madvise) &&
	    td_mem_overlaps(srv, c->a[0].reg, c->a[1].reg))
		return "on remote memory: use MEM_FREE";
	if (c->nr == SYS_mmap && (c->a[3].reg & MAP_FIXED) &&
	    td_mem_overlaps(srv, c->a[0].reg, c->a[1].reg))
		return "MAP_FIXED over remote memory: use MEM_FREE first";
	if (c->nr == SYS_mremap && (c->a[3].reg & MREMAP_FIXED) &&
	    td_mem_overlaps(srv, c->a[4].reg, c->a[2].reg))
		return "MREMAP_FIXED over remote memory: use MEM_FREE first";
	return NULL;
}

int td_policy_refuses(struct td_server *srv, long nr, const uint64_t a[6],
		      char *why, size_t size)
{
	const struct td_rule *rule;
	char text[320];
	int err;

#ifdef TD_TEST_UNCHECKED
	/* tests/tetherd-unchecked: only the kernel filter and the ring's
	 * restrictions stand between the controller and the call. */
	(void)srv; (void)nr; (void)a; (void)why; (void)size;
	(void)rule; (void)text; (void)err;
	return 0;
#else
	if (!srv->policy || nr < 0 || nr > INT32_MAX ||
	    td_policy_decide(srv->policy, (int)nr, a, &err, &rule))
		return 0;
	td_rule_format(srv->policy, rule, text, sizeof(text));
	if (rule)
		snprintf(why, size, "denied by policy %s line %u (%s)",
			 srv->policy_path, rule->line, text);
	else
		snprintf(why, size, "denied by policy %s (%s)",
			 srv->policy_path, text);
	td_log("audit: pid %d: syscall %ld %s",
	       srv->controller ? (int)srv->controller->peer_pid : 0, nr, why);
	return -err;
#endif
}

int td_policy_check_op(struct td_req *r, const char *op, long nr,
		       uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t a[6] = { a0, a1, a2, a3, 0, 0 };
	char why[400];
	int rc;

	if ((rc = td_policy_refuses(r->srv, nr, a, why, sizeof(why))) < 0)
		return td_req_fail(r, -rc, "%s needs syscall %ld: %s", op, nr,
				   why);
	return 0;
}

int td_call_policy_refuses(struct td_server *srv, const struct td_call *c,
			   char *why, size_t size)
{
	uint64_t a[6] = { 0 };

	if (!srv->policy)
		return 0;
	for (unsigned i = 0; i < c->nargs && i < 6; i++) {
		if (c->a[i].kind == TD_ARG_RESULT)
			return 0;
		a[i] = c->a[i].reg;
	}
	return td_policy_refuses(srv, c->nr, a, why, size);
}

static int td_call_policy(struct td_req *r, const struct td_call *c)
{
	char why[400];
	int rc;

	if ((rc = td_call_policy_refuses(r->srv, c, why, sizeof(why))) < 0)
		return td_req_fail(r, -rc, "syscall %ld %s", c->nr, why);
	return 0;
}

int td_call_check(struct td_req *r, const struct td_call *c)
{
	const char *why;
	int rc;

	if (td_fdguard_refused(c->nr, &why))
		return td_req_fail(r, EPERM, "syscall %ld %s", c->nr, why);
	if (c->flags & ~(unsigned)TETHER_CALL_FLAGS)
		return td_req_fail(r, EINVAL, "unknown SYSCALL flags 0x%x",
				   c->flags);
	if ((why = td_call_mem_refused(r->srv, c)))
		return td_req_fail(r, EPERM, "syscall %ld %s", c->nr, why);
	if ((rc = td_call_policy(r, c)) < 0)
		return rc;
	return 0;
}

/* An internal fd does not exist as far as callers can tell. */
bool td_call_hits_internal(const struct td_call *c)
{
	unsigned mask = td_fdguard_mask(c->nr);

	for (unsigned i = 0; i < c->nargs; i++)
		if ((mask & (1u << i)) && c->a[i].kind == TD_ARG_INT &&
		    td_ifd_is((int)c->a[i].reg))
			return true;
	return false;
}

long td_call_run(struct td_server *srv, struct td_call *c)
{
	uint64_t regs[TETHER_NARGS_MAX];
	long ret;

	if (td_call_hits_internal(c))
		return -EBADF;
	/* close_range must not reach the internal fds above ours. */
	if (c->nr == SYS_close_range)
		ret = td_ifd_close_range((unsigned)c->a[0].reg,
					 (unsigned)c->a[1].reg,
					 (unsigned)c->a[2].reg);
	else
		ret = syscall(c->nr, c->a[0].reg, c->a[1].reg, c->a[2].reg,
			      c->a[3].reg, c->a[4].reg, c->a[5].reg);
	if (ret == -1)
		ret = -errno;
	td_fds_changed();
	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		regs[i] = c->a[i].reg;
	td_labels_syscall_done(srv, c->nr, regs, ret);
	return ret;
}

void td_call_pack_result(msgpack_packer *pk, const struct td_call *c, long ret)
{
	bool trim = (c->flags & TETHER_CALL_TRIM) ||
		    (td_fdguard_trims(c->nr) && !(c->flags & TETHER_CALL_NOTRIM));

	msgpack_pack_array(pk, 2);
	msgpack_pack_int64(pk, ret);
	msgpack_pack_array(pk, c->nargs);
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct td_arg *a = &c->a[i];
		size_t n = a->size;

		if (a->kind != TD_ARG_OUT && a->kind != TD_ARG_INOUT) {
			msgpack_pack_nil(pk);
			continue;
		}
		if (trim) {
			n = ret < 0 ? 0 : (size_t)ret < n ? (size_t)ret : n;
			trim = false;	/* only the first out buffer */
		}
		if (a->via_data && c->data_reply) {
			/* The bytes follow on the data socket. */
			((struct td_call *)c)->data_idx = (int)i;
			((struct td_call *)c)->data_n = n;
			msgpack_pack_map(pk, 1);
			tp_pack_kv_int(pk, "data", (int64_t)n);
			continue;
		}
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, a->buf, n);
	}
}

void td_call_pack_args(msgpack_packer *pk, const struct td_call *c)
{
	msgpack_pack_array(pk, c->nargs);
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct td_arg *a = &c->a[i];

		switch (a->kind) {
		case TD_ARG_INT:
		case TD_ARG_RESULT:
			msgpack_pack_int64(pk, (int64_t)a->reg);
			break;
		case TD_ARG_STR:
			tp_pack_str(pk, a->buf);
			break;
		case TD_ARG_IN:
			msgpack_pack_bin(pk, a->size);
			msgpack_pack_bin_body(pk, a->buf, a->size);
			break;
		case TD_ARG_OUT:
		case TD_ARG_INOUT:
			msgpack_pack_array(pk, 2);
			msgpack_pack_int(pk, TETHER_ARGTAG_OUT);
			msgpack_pack_uint64(pk, a->size);
			break;
		}
	}
}

static void td_call_data_done(struct td_conn *c, struct td_xfer *x, int err)
{
	struct td_call *call = x->arg;

	if (err && !c->closing)
		td_conn_close(c, "data stream of a syscall failed");
	td_call_free(call);
	free(call);
	td_xfer_free(x);
}

void td_call_data_out(struct td_conn *conn, uint64_t id, struct td_call *c)
{
	struct td_xfer *x = calloc(1, sizeof(*x));

	if (!x || conn->closing) {
		free(x);
		goto drop;
	}
	x->sending = true;
	x->id = id;
	x->fd = -1;
	x->mem = c->a[c->data_idx].buf;
	x->total = c->data_n;
	x->done_cb = td_call_data_done;
	x->arg = c;
	if (td_xfer_start(conn, x) == 0)
		return;
	td_xfer_free(x);
	/* The reply promised bytes we cannot send: the stream is lost. */
	td_conn_close(conn, "no room for a syscall's data");
drop:
	td_call_free(c);
	free(c);
}

/* Run (directly or through the ring) and answer on conn. */
static int td_syscall_go(struct td_server *srv, struct td_conn *conn,
			 uint64_t id, struct td_call *c)
{
	struct tp_msg m;

	if (td_ring_wants(c))
		return td_async_submit_to(srv, conn, id, c);
	tp_msg_init(&m);
	tp_msg_reply(&m, id, 0);
	td_call_pack_result(&m.pk, c, td_call_run(srv, c));
	if (tp_msg_finish(&m) == 0)
		td_conn_queue(conn, &m);
	tp_msg_destroy(&m);
	if (c->data_idx >= 0) {
		td_call_data_out(conn, id, c);
		return TD_REPLY_LATER;
	}
	td_call_free(c);
	free(c);
	return TD_REPLY_LATER;
}

static void td_syscall_in_done(struct td_conn *conn, struct td_xfer *x,
			       int err)
{
	struct td_call *c = x->arg;
	struct tp_msg m;

	if (err) {
		tp_msg_init(&m);
		if (tp_msg_error(&m, x->id, -err, "receiving an argument: %s",
				 strerror(-err)) == 0 && !conn->closing)
			td_conn_queue(conn, &m);
		tp_msg_destroy(&m);
		td_call_free(c);
		free(c);
	} else if (!conn->closing) {
		td_syscall_go(conn->srv, conn, x->id, c);
	} else {
		td_call_free(c);
		free(c);
	}
	td_xfer_free(x);
}

/* Arguments that travel on the data socket: at most one each way, and
 * never with ASYNC (there is nobody to stream to later). */
static int td_syscall_data_args(struct td_req *r, struct td_call *c,
				int *in_idx)
{
	int nin = 0, nout = 0;

	*in_idx = -1;
	for (unsigned i = 0; i < c->nargs; i++) {
		if (!c->a[i].via_data)
			continue;
		if (c->a[i].kind == TD_ARG_IN) {
			nin++;
			*in_idx = (int)i;
		} else {
			nout++;
		}
	}
	if (!nin && !nout)
		return 0;
	if (nin > 1 || nout > 1)
		return td_req_fail(r, EINVAL, "at most one data-socket buffer "
				   "each way");
	if (c->flags & TETHER_CALL_ASYNC)
		return td_req_fail(r, EINVAL, "data-socket buffers and ASYNC "
				   "do not mix");
	if (r->conn->xfer)
		return td_req_fail(r, EBUSY, "a transfer is in progress");
	c->data_reply = nout > 0;
	return 1;
}

int td_do_syscall(struct td_req *r)
{
	struct td_call *c = calloc(1, sizeof(*c));
	struct td_xfer *x;
	struct tp_msg m;
	int rc, in_idx;

	if (!c)
		return td_req_fail(r, ENOMEM, "out of memory");
	if ((rc = td_call_decode(r, r->body, c)) < 0 ||
	    (rc = td_call_check(r, c)) < 0)
		goto out;
	for (unsigned i = 0; i < c->nargs; i++)
		if (c->a[i].kind == TD_ARG_RESULT) {
			rc = td_req_fail(r, EINVAL, "argument %u: a result "
					 "reference outside BATCH", i);
			goto out;
		}
	if ((rc = td_syscall_data_args(r, c, &in_idx)) < 0)
		goto out;
	if (rc > 0 && in_idx >= 0) {
		/* {"send": true}, then the in bytes, then the answer. */
		if (!(x = calloc(1, sizeof(*x)))) {
			rc = td_req_fail(r, ENOMEM, "out of memory");
			goto out;
		}
		x->id = r->id;
		x->fd = -1;
		x->mem = c->a[in_idx].buf;
		x->total = c->a[in_idx].size;
		x->done_cb = td_syscall_in_done;
		x->arg = c;
		tp_msg_init(&m);
		tp_msg_reply(&m, r->id, 0);
		msgpack_pack_map(&m.pk, 1);
		tp_pack_kv_bool(&m.pk, "send", true);
		if (tp_msg_finish(&m) == 0)
			td_conn_queue(r->conn, &m);
		tp_msg_destroy(&m);
		if ((rc = td_xfer_start(r->conn, x)) < 0)
			x->done_cb(r->conn, x, rc);
		return TD_REPLY_LATER;
	}
	if (rc > 0)
		return td_syscall_go(r->srv, r->conn, r->id, c);
	/* What may block goes through the ring; the call is its now. */
	if (td_ring_wants(c))
		return td_async_submit(r, c);
	td_call_pack_result(r->pk, c, td_call_run(r->srv, c));
	rc = 0;
out:
	td_call_free(c);
	free(c);
	return rc;
}
