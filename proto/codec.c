/* Message envelopes on msgpack-c: [id, op|err, body], length-prefixed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

/* ---- the writer ------------------------------------------------------- */

void tp_w_init(struct tp_w *w, msgpack_packer *pk)
{
	w->pk = pk;
	w->err = 0;
}

void tp_w_buffer(struct tp_w *w, msgpack_packer *pk, msgpack_sbuffer *sb)
{
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	tp_w_init(w, pk);
}

int tp_w_str(struct tp_w *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (n > UINT32_MAX)
		return tp_w_took(w, -1);
	if (tp_w_took(w, msgpack_pack_str(w->pk, n)) == 0 && n)
		tp_w_took(w, msgpack_pack_str_body(w->pk, p, n));
	return w->err;
}

int tp_w_cstr(struct tp_w *w, const char *s)
{
	return tp_w_str(w, s, strlen(s));
}

int tp_w_bin(struct tp_w *w, const void *p, size_t n)
{
	if (w->err)
		return w->err;
	if (n > UINT32_MAX)
		return tp_w_took(w, -1);
	if (tp_w_took(w, msgpack_pack_bin(w->pk, n)) == 0 && n)
		tp_w_took(w, msgpack_pack_bin_body(w->pk, p, n));
	return w->err;
}

int tp_w_map(struct tp_w *w, uint32_t n)
{
	return w->err ? w->err : tp_w_took(w, msgpack_pack_map(w->pk, n));
}

int tp_w_raw(struct tp_w *w, const void *p, size_t n)
{
	if (w->err || !n)
		return w->err;
	return tp_w_took(w, w->pk->callback(w->pk->data, (const char *)p, n));
}

int tp_w_fail(struct tp_w *w, int err)
{
	if (!w->err)
		w->err = err < 0 ? err : -EINVAL;
	return w->err;
}

/* ---- frames ------------------------------------------------------------- */

void tp_msg_init(struct tp_msg *m)
{
	static const char hdr[TETHER_FRAME_HDR];

	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
	tp_w_init(&m->w, &m->pk);
	tp_w_raw(&m->w, hdr, sizeof(hdr));
}

void tp_msg_destroy(struct tp_msg *m)
{
	msgpack_sbuffer_destroy(&m->sb);
	memset(m, 0, sizeof(*m));
}

void tp_w_request(struct tp_w *w, uint64_t id, unsigned op)
{
	tp_w_array(w, 3);
	tp_w_u64(w, id);
	tp_w_u64(w, op);
}

void tp_w_reply(struct tp_w *w, uint64_t id, int err)
{
	tp_w_array(w, 3);
	tp_w_u64(w, id);
	tp_w_i64(w, err);
}

void tp_msg_request(struct tp_msg *m, uint64_t id, unsigned op)
{
	tp_w_request(&m->w, id, op);
}

void tp_msg_reply(struct tp_msg *m, uint64_t id, int err)
{
	tp_w_reply(&m->w, id, err);
}

int tp_msg_finish(struct tp_msg *m)
{
	size_t plen;

	/* A write that failed (tests writing through pk alone: sbuffer
	 * drops what it cannot allocate for, and its size tells). */
	if (m->w.err)
		return m->w.err;
	if (!m->sb.data || m->sb.size < TETHER_FRAME_HDR)
		return -ENOMEM;
	plen = m->sb.size - TETHER_FRAME_HDR;
	if (plen > TETHER_FRAME_MAX)
		return -EMSGSIZE;
	tp_put_be32((unsigned char *)m->sb.data, (uint32_t)plen);
	return 0;
}

void *tp_msg_steal(struct tp_msg *m, size_t *size, size_t *cap)
{
	void *p = m->sb.data;

	*size = m->sb.size;
	*cap = m->sb.alloc;
	m->sb.data = NULL;
	m->sb.size = m->sb.alloc = 0;
	return p;
}

const void *tp_msg_data(const struct tp_msg *m)
{
	return m->sb.data;
}

size_t tp_msg_size(const struct tp_msg *m)
{
	return m->sb.size;
}

int tp_pack_str(msgpack_packer *pk, const char *s)
{
	struct tp_w w;

	tp_w_init(&w, pk);
	return tp_w_cstr(&w, s) < 0 ? -1 : 0;
}

int tp_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	struct tp_w w;

	tp_w_init(&w, pk);
	tp_w_cstr(&w, k);
	if (v)
		tp_w_cstr(&w, v);
	else
		tp_w_nil(&w);
	return w.err < 0 ? -1 : 0;
}

int tp_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	struct tp_w w;

	tp_w_init(&w, pk);
	tp_w_cstr(&w, k);
	tp_w_i64(&w, v);
	return w.err < 0 ? -1 : 0;
}

int tp_pack_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	struct tp_w w;

	tp_w_init(&w, pk);
	tp_w_cstr(&w, k);
	tp_w_bool(&w, v);
	return w.err < 0 ? -1 : 0;
}

int tp_msg_error(struct tp_msg *m, uint64_t id, int err, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tp_msg_reply(m, id, err);
	tp_w_cstr(&m->w, text);
	return tp_msg_finish(m);
}

int tp_decode(const unsigned char *payload, size_t len, struct tp_in *in)
{
	const msgpack_object *top;
	size_t off = 0;
	int rc;

	memset(in, 0, sizeof(*in));
	msgpack_unpacked_init(&in->u);
	rc = tp_precheck(payload, len);
	if (rc < 0)
		return rc;
	if (msgpack_unpack_next(&in->u, (const char *)payload, len, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != len)
		return -EBADMSG;
	top = &in->u.data;
	if (top->type != MSGPACK_OBJECT_ARRAY || top->via.array.size < 1)
		return -EPROTO;
	if (tp_obj_u64(&top->via.array.ptr[0], &in->id) < 0)
		return -EPROTO;
	in->have_id = true;
	if (top->via.array.size != 3 ||
	    tp_obj_i64(&top->via.array.ptr[1], &in->code) < 0)
		return -EPROTO;
	in->body = &top->via.array.ptr[2];
	return 0;
}

void tp_in_destroy(struct tp_in *in)
{
	msgpack_unpacked_destroy(&in->u);
}

int tp_obj_u64(const msgpack_object *o, uint64_t *v)
{
	if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -EINVAL;
	*v = o->via.u64;
	return 0;
}

int tp_obj_i64(const msgpack_object *o, int64_t *v)
{
	if (!o)
		return -EINVAL;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 0;
	}
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 0;
	}
	return -EINVAL;
}

int tp_obj_reg(const msgpack_object *o, uint64_t *v)
{
	if (!o)
		return -EINVAL;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		*v = o->via.u64;
	else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		*v = (uint64_t)o->via.i64;
	else
		return -EINVAL;
	return 0;
}

int tp_obj_str(const msgpack_object *o, const char **p, size_t *n)
{
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return -EINVAL;
	/* msgpack-c leaves ptr NULL for an empty str: hand out "" so no
	 * caller passes NULL to memcpy or to a syscall. */
	*p = o->via.str.size ? o->via.str.ptr : "";
	*n = o->via.str.size;
	return 0;
}

int tp_obj_bin(const msgpack_object *o, const void **p, size_t *n)
{
	if (!o || o->type != MSGPACK_OBJECT_BIN)
		return -EINVAL;
	*p = o->via.bin.size ? o->via.bin.ptr : "";
	*n = o->via.bin.size;
	return 0;
}

const msgpack_object *tp_obj_array(const msgpack_object *o, size_t *n)
{
	if (!o || o->type != MSGPACK_OBJECT_ARRAY)
		return NULL;
	*n = o->via.array.size;
	/* A zero-length array has no element pointer; callers index by n. */
	return o->via.array.size ? o->via.array.ptr : o;
}

const msgpack_object *tp_map_get(const msgpack_object *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;

		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == klen &&
		    (!klen || memcmp(k->via.str.ptr, key, klen) == 0))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}
