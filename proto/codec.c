/* Message envelopes on msgpack-c: [id, op|err, body], length-prefixed. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"

void tp_msg_init(struct tp_msg *m)
{
	static const char hdr[TETHER_FRAME_HDR];

	msgpack_sbuffer_init(&m->sb);
	msgpack_packer_init(&m->pk, &m->sb, msgpack_sbuffer_write);
	msgpack_sbuffer_write(&m->sb, hdr, sizeof(hdr));
}

void tp_msg_destroy(struct tp_msg *m)
{
	msgpack_sbuffer_destroy(&m->sb);
	memset(m, 0, sizeof(*m));
}

void tp_msg_request(struct tp_msg *m, uint64_t id, unsigned op)
{
	msgpack_pack_array(&m->pk, 3);
	msgpack_pack_uint64(&m->pk, id);
	msgpack_pack_unsigned_int(&m->pk, op);
}

void tp_msg_reply(struct tp_msg *m, uint64_t id, int err)
{
	msgpack_pack_array(&m->pk, 3);
	msgpack_pack_uint64(&m->pk, id);
	msgpack_pack_int(&m->pk, err);
}

int tp_msg_finish(struct tp_msg *m)
{
	size_t plen;

	/* sbuffer drops writes it cannot allocate for; its size tells. */
	if (!m->sb.data || m->sb.size < TETHER_FRAME_HDR)
		return -ENOMEM;
	plen = m->sb.size - TETHER_FRAME_HDR;
	if (plen > TETHER_FRAME_MAX)
		return -EMSGSIZE;
	m->sb.data[0] = (char)(plen >> 24);
	m->sb.data[1] = (char)(plen >> 16);
	m->sb.data[2] = (char)(plen >> 8);
	m->sb.data[3] = (char)plen;
	return 0;
}

const void *tp_msg_data(const struct tp_msg *m)
{
	return m->sb.data;
}

size_t tp_msg_size(const struct tp_msg *m)
{
	return m->sb.size;
}

void tp_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void tp_pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	tp_pack_str(pk, k);
	if (v)
		tp_pack_str(pk, v);
	else
		msgpack_pack_nil(pk);
}

void tp_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v)
{
	tp_pack_str(pk, k);
	msgpack_pack_int64(pk, v);
}

void tp_pack_kv_bool(msgpack_packer *pk, const char *k, bool v)
{
	tp_pack_str(pk, k);
	if (v)
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
}

int tp_msg_error(struct tp_msg *m, uint64_t id, int err, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	tp_msg_reply(m, id, err);
	tp_pack_str(&m->pk, text);
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
