/*
 * SYSCALL: decode up to six marshalled arguments into registers, run the
 * syscall in the server's own thread, and answer [ret, outs].
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tetherd.h"

enum td_argkind { TD_ARG_INT, TD_ARG_IN, TD_ARG_OUT, TD_ARG_INOUT, TD_ARG_STR };

struct td_arg {
	enum td_argkind kind;
	uint64_t reg;
	char *buf;
	size_t size;			/* OUT/INOUT: capacity */
};

struct td_call {
	long nr;
	unsigned nargs;
	unsigned flags;
	struct td_arg a[TETHER_NARGS_MAX];
	size_t bytes;			/* buffer bytes allocated so far */
};

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
	if (tag == TETHER_ARGTAG_OUT && n == 2 &&
	    tp_obj_u64(&v[1], &size) == 0) {
		c->a[i].kind = TD_ARG_OUT;
	} else if (tag == TETHER_ARGTAG_INOUT && n == 3 &&
		   tp_obj_bin(&v[1], &in, &inlen) == 0 &&
		   tp_obj_u64(&v[2], &size) == 0) {
		c->a[i].kind = TD_ARG_INOUT;
		if (inlen > size)
			return td_req_fail(r, EINVAL,
					   "argument %u: %zu bytes in, "
					   "capacity %llu", i, inlen,
					   (unsigned long long)size);
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

static int td_call_decode(struct td_req *r, struct td_call *c)
{
	size_t nb, na;
	const msgpack_object *b = tp_obj_array(r->body, &nb);
	const msgpack_object *args;
	int64_t nr;
	uint64_t flags = 0;
	int rc;

	if (!b || nb < 2 || nb > 3)
		return td_req_fail(r, EPROTO,
				   "SYSCALL body is [nr, args] or "
				   "[nr, args, flags]");
	if (tp_obj_i64(&b[0], &nr) < 0 || nr < 0 || nr > 4095)
		return td_req_fail(r, EINVAL, "bad syscall number");
	if (!(args = tp_obj_array(&b[1], &na)))
		return td_req_fail(r, EPROTO, "SYSCALL args is not an array");
	if (na > TETHER_NARGS_MAX)
		return td_req_fail(r, E2BIG, "%zu arguments; at most %u", na,
				   TETHER_NARGS_MAX);
	if (nb == 3 && tp_obj_u64(&b[2], &flags) < 0)
		return td_req_fail(r, EPROTO, "SYSCALL flags is not an uint");
	c->nr = (long)nr;
	c->nargs = (unsigned)na;
	c->flags = (unsigned)flags;
	for (unsigned i = 0; i < c->nargs; i++)
		if ((rc = td_arg_decode(r, c, i, &args[i])) < 0)
			return rc;
	return 0;
}

static void td_call_free(struct td_call *c)
{
	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		free(c->a[i].buf);
}

/* close_range must not reach the internal fds above the controller's. */
static long td_call_close_range(const struct td_call *c)
{
	int rc = td_ifd_close_range((unsigned)c->a[0].reg,
				    (unsigned)c->a[1].reg,
				    (unsigned)c->a[2].reg);

	return rc;
}

static long td_call_run(struct td_call *c)
{
	unsigned mask = td_fdguard_mask(c->nr);
	long ret;

	for (unsigned i = 0; i < c->nargs; i++) {
		/* An internal fd does not exist as far as callers can tell. */
		if ((mask & (1u << i)) && c->a[i].kind == TD_ARG_INT &&
		    td_ifd_is((int)c->a[i].reg))
			return -EBADF;
	}
	if (c->nr == SYS_close_range)
		return td_call_close_range(c);
	ret = syscall(c->nr, c->a[0].reg, c->a[1].reg, c->a[2].reg,
		      c->a[3].reg, c->a[4].reg, c->a[5].reg);
	return ret == -1 ? -errno : ret;
}

static void td_call_reply(struct td_req *r, const struct td_call *c, long ret)
{
	bool trim = (c->flags & TETHER_CALL_TRIM) ||
		    (td_fdguard_trims(c->nr) && !(c->flags & TETHER_CALL_NOTRIM));

	msgpack_pack_array(r->pk, 2);
	msgpack_pack_int64(r->pk, ret);
	msgpack_pack_array(r->pk, c->nargs);
	for (unsigned i = 0; i < c->nargs; i++) {
		const struct td_arg *a = &c->a[i];
		size_t n = a->size;

		if (a->kind != TD_ARG_OUT && a->kind != TD_ARG_INOUT) {
			msgpack_pack_nil(r->pk);
			continue;
		}
		if (trim) {
			n = ret < 0 ? 0 : (size_t)ret < n ? (size_t)ret : n;
			trim = false;	/* only the first out buffer */
		}
		msgpack_pack_bin(r->pk, n);
		msgpack_pack_bin_body(r->pk, a->buf, n);
	}
}

int td_do_syscall(struct td_req *r)
{
	struct td_call c;
	uint64_t regs[TETHER_NARGS_MAX];
	const char *why;
	long ret;
	int rc;

	memset(&c, 0, sizeof(c));
	if ((rc = td_call_decode(r, &c)) < 0)
		goto out;
	if (td_fdguard_refused(c.nr, &why)) {
		rc = td_req_fail(r, EPERM, "syscall %ld %s", c.nr, why);
		goto out;
	}
	ret = td_call_run(&c);
	for (unsigned i = 0; i < TETHER_NARGS_MAX; i++)
		regs[i] = c.a[i].reg;
	td_labels_syscall_done(r->srv, c.nr, regs, ret);
	td_call_reply(r, &c, ret);
out:
	td_call_free(&c);
	return rc;
}
