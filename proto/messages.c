/*
 * The message engine: any message whose desc is a table of fields packed
 * and unpacked from it, the one-line schema tether-protocol(7) shows, the
 * index of every message, and each op's final reply.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "messages.h"
#include "messages_table.h"

/* A field's value read as absent (TP_LAX), or of the wrong type. */
#define TP_ABSENT 1
#define TP_BADTYPE 2

int tp_fail(struct tp_err *e, const struct tp_desc *d, int err,
	    const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		err = d->err ? d->err : EPROTO;
	if (!e)
		return -err;
	n = snprintf(e->msg, sizeof(e->msg), "%s: ", d->name);
	if (n < 0 || (size_t)n >= sizeof(e->msg))
		return -err;
	va_start(ap, fmt);
	vsnprintf(e->msg + n, sizeof(e->msg) - (size_t)n, fmt, ap);
	va_end(ap);
	return -err;
}

/* ---- packing ------------------------------------------------------------ */

static bool tp_packed(const struct tp_field *f, uint32_t has)
{
	return (f->flags & TP_REQ) || (has & f->bit);
}

static int tp_pack_list(struct tp_w *w, const struct tp_field *f,
			const struct tp_list *l)
{
	if (l->n && !l->v && !l->each && !w->err)
		w->err = -EINVAL;	/* a list with nothing to pack */
	tp_w_array(w, l->n);
	for (uint32_t i = 0; i < l->n && !w->err; i++) {
		if (l->each)
			l->each(w, l->ctx, i);
		else if (f->elem == TP_F_MSG)
			tp_pack(w, f->sub,
				(const char *)l->v + (size_t)i * f->sub->size);
		else if (f->elem == TP_F_I64)
			tp_w_i64(w, ((const int64_t *)l->v)[i]);
		else if (f->elem == TP_F_CSTR)
			tp_w_cstr(w, ((const char *const *)l->v)[i]);
		else
			w->err = -EINVAL;
	}
	return w->err;
}

static int tp_pack_value(struct tp_w *w, const struct tp_field *f,
			 const void *p, uint32_t has)
{
	const struct tp_str *s = p;
	const struct tp_bin *b = p;
	const struct tp_intstr *is = p;

	switch (f->type) {
	case TP_F_I64:
		if ((f->flags & TP_NIL) && !(has & f->bit))
			return tp_w_nil(w);
		return tp_w_i64(w, *(const int64_t *)p);
	case TP_F_U64:
	case TP_F_REG:
		return tp_w_u64(w, *(const uint64_t *)p);
	case TP_F_SREG:
		return tp_w_i64(w, (int64_t) * (const uint64_t *)p);
	case TP_F_BOOL:
		return tp_w_bool(w, *(const bool *)p);
	case TP_F_STR:
		if (!s->p)
			return f->flags & TP_NIL ? tp_w_nil(w) : tp_w_str(w, "", 0);
		return tp_w_str(w, s->p, s->n);
	case TP_F_BIN:
		return tp_w_bin(w, b->p ? b->p : "", b->p ? b->n : 0);
	case TP_F_INTSTR:
		if (is->is_int)
			return tp_w_i64(w, is->i);
		return tp_w_str(w, is->s.p ? is->s.p : "", is->s.p ? is->s.n : 0);
	case TP_F_LIST:
		return tp_pack_list(w, f, p);
	case TP_F_MSG:
		return tp_pack(w, f->sub, p);
	}
	if (!w->err)
		w->err = -EINVAL;
	return w->err;
}

/* A map counts the entries it is about to write: no one counts by hand. */
static int tp_pack_map(struct tp_w *w, const struct tp_desc *d, const void *m)
{
	uint32_t has = *(const uint32_t *)m, n = 0;

	for (unsigned i = 0; i < d->nfields; i++)
		n += tp_packed(&d->f[i], has);
	tp_w_map(w, n);
	for (unsigned i = 0; i < d->nfields && !w->err; i++) {
		const struct tp_field *f = &d->f[i];

		if (!tp_packed(f, has))
			continue;
		tp_w_cstr(w, f->key);
		tp_pack_value(w, f, (const char *)m + f->off, has);
	}
	return w->err;
}

/* An array ends with its last present element. */
static int tp_pack_array(struct tp_w *w, const struct tp_desc *d,
			 const void *m)
{
	uint32_t has = *(const uint32_t *)m, n = d->nreq;

	for (unsigned i = d->nreq; i < d->nfields; i++)
		if (has & d->f[i].bit)
			n = i + 1;
	tp_w_array(w, n);
	for (unsigned i = 0; i < n && !w->err; i++)
		tp_pack_value(w, &d->f[i], (const char *)m + d->f[i].off, has);
	return w->err;
}

int tp_pack(struct tp_w *w, const struct tp_desc *d, const void *m)
{
	if (w->err)
		return w->err;
	switch (d->shape) {
	case TP_MAP:
		return tp_pack_map(w, d, m);
	case TP_ARRAY:
		return tp_pack_array(w, d, m);
	case TP_NILBODY:
		return tp_w_nil(w);
	case TP_CUSTOM:
		return d->pack(w, m);
	}
	w->err = -EINVAL;
	return w->err;
}

/* ---- unpacking ---------------------------------------------------------- */

static const char *tp_type_name(unsigned t)
{
	switch (t) {
	case TP_F_I64:
		return "an integer";
	case TP_F_U64:
		return "a non-negative integer";
	case TP_F_REG:
	case TP_F_SREG:
		return "an integer";
	case TP_F_BOOL:
		return "a boolean";
	case TP_F_STR:
	case TP_F_CSTR:
		return "a string";
	case TP_F_BIN:
		return "bin";
	case TP_F_INTSTR:
		return "an integer or a string";
	case TP_F_LIST:
		return "an array";
	default:
		return "valid";
	}
}

/* A scalar of type t from o, into dst (NULL: only checked). */
static int tp_get_scalar(const msgpack_object *o, unsigned t, void *dst)
{
	struct tp_intstr is = { false, 0, { NULL, 0 } };
	struct tp_str s;
	struct tp_bin b;
	int64_t i;
	uint64_t u;

	switch (t) {
	case TP_F_I64:
		if (tp_obj_i64(o, &i) < 0)
			return TP_BADTYPE;
		if (dst)
			*(int64_t *)dst = i;
		return 0;
	case TP_F_U64:
		if (tp_obj_u64(o, &u) < 0)
			return TP_BADTYPE;
		if (dst)
			*(uint64_t *)dst = u;
		return 0;
	case TP_F_REG:
	case TP_F_SREG:
		if (tp_obj_reg(o, &u) < 0)
			return TP_BADTYPE;
		if (dst)
			*(uint64_t *)dst = u;
		return 0;
	case TP_F_BOOL:
		if (o->type != MSGPACK_OBJECT_BOOLEAN)
			return TP_BADTYPE;
		if (dst)
			*(bool *)dst = o->via.boolean;
		return 0;
	case TP_F_STR:
	case TP_F_CSTR:
		if (tp_obj_str(o, &s.p, &s.n) < 0)
			return TP_BADTYPE;
		if (dst)
			*(struct tp_str *)dst = s;
		return 0;
	case TP_F_BIN:
		if (tp_obj_bin(o, &b.p, &b.n) < 0)
			return TP_BADTYPE;
		if (dst)
			*(struct tp_bin *)dst = b;
		return 0;
	case TP_F_INTSTR:
		if (tp_obj_i64(o, &is.i) == 0)
			is.is_int = true;
		else if (tp_obj_str(o, &is.s.p, &is.s.n) < 0)
			return TP_BADTYPE;
		if (dst)
			*(struct tp_intstr *)dst = is;
		return 0;
	case TP_F_ANY:
		return 0;
	}
	return TP_BADTYPE;
}

/* Where a field is, for messages: "\"key\"" or "element 2 (key)". */
static const char *tp_where(const struct tp_desc *d, const struct tp_field *f,
			    char *buf, size_t size)
{
	if (d->shape == TP_ARRAY)
		snprintf(buf, size, "element %u (%s)", (unsigned)(f - d->f),
			 f->key);
	else
		snprintf(buf, size, "\"%s\"", f->key);
	return buf;
}

/* A nested message's failure, said as the outer message's. */
static int tp_fail_in(struct tp_err *e, const struct tp_desc *d,
		      const struct tp_field *f, long idx,
		      const struct tp_err *in)
{
	char where[64];

	tp_where(d, f, where, sizeof(where));
	if (idx >= 0)
		return tp_fail(e, d, 0, "%s[%ld]: %s", where, idx, in->msg);
	return tp_fail(e, d, 0, "%s: %s", where, in->msg);
}

static int tp_unpack_list(const msgpack_object *o, const struct tp_desc *d,
			  const struct tp_field *f, struct tp_list *l,
			  struct tp_err *e)
{
	char where[64];
	struct tp_err in;
	size_t n;
	const msgpack_object *v = tp_obj_array(o, &n);
	int rc;

	if (!v)
		return TP_BADTYPE;
	for (size_t i = 0; i < n && !(f->flags & TP_DEFER); i++) {
		if (f->elem == TP_F_MSG) {
			if ((rc = tp_unpack(&v[i], f->sub, NULL, &in)) < 0)
				return tp_fail_in(e, d, f, (long)i, &in);
		} else if (tp_get_scalar(&v[i], f->elem, NULL)) {
			return tp_fail(e, d, 0, "%s[%zu] is not %s",
				       tp_where(d, f, where, sizeof(where)), i,
				       tp_type_name(f->elem));
		}
	}
	if (l) {
		l->n = (uint32_t)n;
		l->o = v;
	}
	return 0;
}

/* Field f's value o into the struct at base (NULL: only checked): 0,
 * TP_ABSENT, or -errno with e said. */
static int tp_unpack_field(const msgpack_object *o, const struct tp_desc *d,
			   const struct tp_field *f, char *base, uint32_t *has,
			   struct tp_err *e)
{
	void *dst = base ? base + f->off : NULL;
	char where[64];
	struct tp_err in;
	int rc;

	if (o->type == MSGPACK_OBJECT_NIL && (f->flags & TP_NIL)) {
		/* A str that is nil is there (p NULL); an integer that is
		 * nil has its bit clear. */
		if (f->type == TP_F_STR)
			*has |= f->bit;
		return 0;
	}
	if (f->type == TP_F_MSG) {
		if ((rc = tp_unpack(o, f->sub, dst, &in)) < 0)
			return tp_fail_in(e, d, f, -1, &in);
	} else if (f->type == TP_F_LIST) {
		if ((rc = tp_unpack_list(o, d, f, dst, e)) < 0)
			return rc;
	} else {
		rc = tp_get_scalar(o, f->type, dst);
	}
	if (rc == TP_BADTYPE && (f->flags & TP_LAX))
		return TP_ABSENT;
	if (rc == TP_BADTYPE)
		return tp_fail(e, d, 0, "%s is not %s",
			       tp_where(d, f, where, sizeof(where)),
			       tp_type_name(f->type));
	*has |= f->bit;
	return 0;
}

static int tp_field_find(const struct tp_desc *d, const msgpack_object *k)
{
	const char *p;
	size_t n;

	if (k->type != MSGPACK_OBJECT_STR || !(n = k->via.str.size))
		return -1;
	p = k->via.str.ptr;
	for (unsigned i = 0; i < d->nfields; i++) {
		const char *key = d->f[i].key;

		if (key[0] == p[0] && !strncmp(key, p, n) && !key[n])
			return (int)i;
	}
	return -1;
}

/* Unknown keys are skipped; of a repeated key the first counts. */
static int tp_unpack_map(const msgpack_object *o, const struct tp_desc *d,
			 void *m, struct tp_err *e)
{
	uint32_t has = 0;
	uint64_t taken = 0, seen = 0;	/* by field: TP_MAP_FIELDS_MAX */
	int rc;

	/* A body of another shape is a protocol error whatever d says of
	 * its keys. */
	if (!o || o->type != MSGPACK_OBJECT_MAP)
		return tp_fail(e, d, EPROTO, "not a map");
	if (m)
		memset(m, 0, d->size);
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		int k = tp_field_find(d, &kv->key);

		if (k < 0 || (taken & (1ull << k)))
			continue;
		taken |= 1ull << k;
		rc = tp_unpack_field(&kv->val, d, &d->f[k], m, &has, e);
		if (rc < 0)
			return rc;
		if (rc == 0)
			seen |= 1ull << k;
	}
	for (unsigned i = 0; i < d->nfields; i++)
		if ((d->f[i].flags & TP_REQ) && !(seen & (1ull << i)))
			return tp_fail(e, d, 0, "no \"%s\"", d->f[i].key);
	if (m)
		*(uint32_t *)m = has;
	return 0;
}

static int tp_unpack_array(const msgpack_object *o, const struct tp_desc *d,
			   void *m, struct tp_err *e)
{
	uint32_t has = 0;
	size_t n;
	const msgpack_object *v = tp_obj_array(o, &n);
	char shape[256];
	int rc;

	if (m)
		memset(m, 0, d->size);
	if (!v || n < d->nreq || n > d->nfields) {
		if (d->lax)
			return 0;
		tp_schema(d, shape, sizeof(shape));
		return tp_fail(e, d, 0, "the body is %s", shape);
	}
	for (size_t i = 0; i < n; i++)
		if ((rc = tp_unpack_field(&v[i], d, &d->f[i], m, &has, e)) < 0)
			return rc;
	if (m)
		*(uint32_t *)m = has;
	return 0;
}

int tp_unpack(const msgpack_object *o, const struct tp_desc *d, void *m,
	      struct tp_err *e)
{
	static const msgpack_object nil = { .type = MSGPACK_OBJECT_NIL };

	if (!o)
		o = &nil;
	switch (d->shape) {
	case TP_MAP:
		return tp_unpack_map(o, d, m, e);
	case TP_ARRAY:
		return tp_unpack_array(o, d, m, e);
	case TP_NILBODY:
		if (m)
			memset(m, 0, d->size);
		if (o->type != MSGPACK_OBJECT_NIL)
			return tp_fail(e, d, 0, "not nil");
		return 0;
	case TP_CUSTOM:
		return d->unpack(o, m, e);
	}
	return tp_fail(e, d, EINVAL, "no such shape");
}

/* ---- the schema, as the manual shows it -------------------------------- */

static const char *tp_schema_type(const struct tp_field *f, unsigned t,
				  char *buf, size_t size)
{
	switch (t) {
	case TP_F_I64:
		return "int";
	case TP_F_U64:
		return "uint";
	case TP_F_REG:
	case TP_F_SREG:
		return "u64";
	case TP_F_BOOL:
		return "bool";
	case TP_F_STR:
	case TP_F_CSTR:
		return "str";
	case TP_F_BIN:
		return "bin";
	case TP_F_INTSTR:
		return "int|str";
	case TP_F_ANY:
		return "any";
	case TP_F_MSG:
		return f->sub->name;
	case TP_F_LIST:	/* of scalars or messages: never of lists */
		snprintf(buf, size, "[%s]", tp_schema_type(f, f->elem, NULL, 0));
		return buf;
	}
	return "?";
}

int tp_schema(const struct tp_desc *d, char *buf, size_t size)
{
	size_t n = 0;
	char tb[128];

	if (d->shape == TP_CUSTOM)
		return snprintf(buf, size, "%s", d->schema);
	if (d->shape == TP_NILBODY)
		return snprintf(buf, size, "nil");
#define TP_PUT(...)                                                            \
	do {                                                                   \
		int k_ = snprintf(buf + (n < size ? n : size),                 \
				  n < size ? size - n : 0, __VA_ARGS__);       \
		n += k_ > 0 ? (size_t)k_ : 0;                                  \
	} while (0)
	TP_PUT("%c", d->shape == TP_MAP ? '{' : '[');
	for (unsigned i = 0; i < d->nfields; i++) {
		const struct tp_field *f = &d->f[i];
		bool opt = d->shape == TP_MAP ? !(f->flags & TP_REQ)
					      : i >= d->nreq;

		TP_PUT("%s%s%s: %s%s", i ? ", " : "", f->key, opt ? "?" : "",
		       tp_schema_type(f, f->type, tb, sizeof(tb)),
		       f->flags & TP_NIL ? "|nil" : "");
	}
	TP_PUT("%c", d->shape == TP_MAP ? '}' : ']');
#undef TP_PUT
	return (int)n;
}

/* ---- the index ---------------------------------------------------------- */

#define TP_INDEX(name, type) &tp_##name##_desc,
const struct tp_desc *const tp_messages[] = { TP_MESSAGES(TP_INDEX) };
#undef TP_INDEX
const size_t tp_nmessages = sizeof(tp_messages) / sizeof(tp_messages[0]);

const struct tp_desc *tp_request_desc(unsigned op)
{
	static const struct tp_desc *const r[TETHER_OP_MAX_] = {
		[TETHER_OP_HELLO] = &tp_hello_desc,
		[TETHER_OP_SYSCALL] = &tp_syscall_desc,
		[TETHER_OP_PERSIST] = &tp_persist_desc,
		[TETHER_OP_STATUS] = &tp_status_req_desc,
		[TETHER_OP_SHUTDOWN] = &tp_shutdown_desc,
		[TETHER_OP_LIST_FDS] = &tp_list_fds_desc,
		[TETHER_OP_LABEL] = &tp_label_desc,
		[TETHER_OP_UNLABEL] = &tp_unlabel_desc,
		[TETHER_OP_GC] = &tp_gc_desc,
		[TETHER_OP_SPAWN] = &tp_spawn_desc,
		[TETHER_OP_PS] = &tp_ps_desc,
		[TETHER_OP_WAIT] = &tp_wait_desc,
		[TETHER_OP_KILL] = &tp_kill_desc,
		[TETHER_OP_STOP] = &tp_stop_desc,
		[TETHER_OP_LOGS] = &tp_logs_desc,
		[TETHER_OP_ACK] = &tp_ack_desc,
		[TETHER_OP_PENDING] = &tp_pending_desc,
		[TETHER_OP_COLLECT] = &tp_collect_desc,
		[TETHER_OP_CANCEL] = &tp_cancel_desc,
		[TETHER_OP_BATCH] = &tp_batch_desc,
		[TETHER_OP_GET] = &tp_get_desc,
		[TETHER_OP_PUT] = &tp_put_desc,
		[TETHER_OP_GIVE] = &tp_give_desc,
		[TETHER_OP_TAKE] = &tp_take_desc,
		[TETHER_OP_MEM_ALLOC] = &tp_mem_alloc_desc,
		[TETHER_OP_MEM_FREE] = &tp_mem_free_desc,
		[TETHER_OP_MEM_LIST] = &tp_mem_list_desc,
		[TETHER_OP_MEM_WRITE] = &tp_mem_write_desc,
		[TETHER_OP_MEM_READ] = &tp_mem_read_desc,
		[TETHER_OP_POLICY] = &tp_policy_desc,
		[TETHER_OP_RESPAWN] = &tp_respawn_desc,
		[TETHER_OP_SUBMIT] = &tp_submit_desc,
		[TETHER_OP_REAP] = &tp_reap_desc,
		[TETHER_OP_UPGRADE] = &tp_upgrade_desc,
	};

	return op < TETHER_OP_MAX_ ? r[op] : NULL;
}

const struct tp_desc *tp_reply_desc(unsigned op)
{
	static const struct tp_desc *const r[TETHER_OP_MAX_] = {
		[TETHER_OP_HELLO] = &tp_status_desc,
		[TETHER_OP_PERSIST] = &tp_persist_reply_desc,
		[TETHER_OP_STATUS] = &tp_status_desc,
		[TETHER_OP_SHUTDOWN] = &tp_shutdown_reply_desc,
		[TETHER_OP_LIST_FDS] = &tp_list_fds_reply_desc,
		[TETHER_OP_LABEL] = &tp_label_reply_desc,
		[TETHER_OP_UNLABEL] = &tp_unlabel_reply_desc,
		[TETHER_OP_GC] = &tp_gc_reply_desc,
		[TETHER_OP_SPAWN] = &tp_spawn_reply_desc,
		[TETHER_OP_PS] = &tp_ps_reply_desc,
		[TETHER_OP_WAIT] = &tp_wait_reply_desc,
		[TETHER_OP_KILL] = &tp_kill_reply_desc,
		[TETHER_OP_STOP] = &tp_stop_reply_desc,
		[TETHER_OP_LOGS] = &tp_logs_reply_desc,
		[TETHER_OP_ACK] = &tp_ack_reply_desc,
		[TETHER_OP_PENDING] = &tp_pending_reply_desc,
		[TETHER_OP_COLLECT] = &tp_record_desc,
		[TETHER_OP_CANCEL] = &tp_cancel_reply_desc,
		[TETHER_OP_BATCH] = &tp_batch_reply_desc,
		[TETHER_OP_GET] = &tp_xfer_done_desc,
		[TETHER_OP_PUT] = &tp_xfer_done_desc,
		[TETHER_OP_GIVE] = &tp_give_reply_desc,
		[TETHER_OP_TAKE] = &tp_take_reply_desc,
		[TETHER_OP_MEM_ALLOC] = &tp_mem_alloc_reply_desc,
		[TETHER_OP_MEM_FREE] = &tp_mem_free_reply_desc,
		[TETHER_OP_MEM_LIST] = &tp_mem_list_reply_desc,
		[TETHER_OP_MEM_WRITE] = &tp_xfer_done_desc,
		[TETHER_OP_MEM_READ] = &tp_xfer_done_desc,
		[TETHER_OP_POLICY] = &tp_policy_reply_desc,
		[TETHER_OP_RESPAWN] = &tp_respawn_reply_desc,
		[TETHER_OP_SUBMIT] = &tp_submit_reply_desc,
		[TETHER_OP_REAP] = &tp_reap_reply_desc,
		[TETHER_OP_UPGRADE] = &tp_upgrade_reply_desc,
	};

	return op < TETHER_OP_MAX_ ? r[op] : NULL;
}
