/*
 * libFuzzer target for the proto decoder.
 *
 * The input is used twice: as one raw payload for tp_decode(), and as a
 * byte stream for the frame reader (tp_rbuf_frame / tp_decode /
 * tp_rbuf_consume until no whole frame is left).  Whatever decodes is
 * walked with the tp_obj_* accessors, touching every byte they point
 * at, so that a bad pointer or length shows up under ASan.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keys a status or hello body may carry; looked up in every map. */
static const char *const fz_keys[] = {
	"pid", "generation", "persistent", "attached", "controller_pid",
	"uptime_ms", "nfds", "ninternal", "nlabels", "version", "error", "",
};

static volatile unsigned fz_sink;

/* Read every byte of [p, p+n) so ASan checks the whole range. */
static void fz_touch(const void *p, size_t n)
{
	const unsigned char *b = p;
	unsigned acc = 0;

	for (size_t i = 0; i < n; i++)
		acc += b[i];
	fz_sink += acc;
}

static void fz_walk(const msgpack_object *o, unsigned depth);

/* Every element of an array, through tp_obj_array. */
static void fz_walk_array(const msgpack_object *o, unsigned depth)
{
	size_t n = 0;
	const msgpack_object *a = tp_obj_array(o, &n);

	if (!a)
		return;
	/* For an empty array a points at o itself: never index it. */
	for (size_t i = 0; i < n; i++)
		fz_walk(&a[i], depth + 1);
}

/* Every key and value of a map, and the tp_map_get lookups. */
static void fz_walk_map(const msgpack_object *o, unsigned depth)
{
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		fz_walk(&o->via.map.ptr[i].key, depth + 1);
		fz_walk(&o->via.map.ptr[i].val, depth + 1);
	}
	for (size_t k = 0; k < sizeof(fz_keys) / sizeof(fz_keys[0]); k++) {
		const msgpack_object *v = tp_map_get(o, fz_keys[k]);

		if (v)
			fz_walk(v, depth + 1);
	}
}

/* One object through every scalar accessor, then its children. */
static void fz_walk(const msgpack_object *o, unsigned depth)
{
	uint64_t u;
	int64_t i;
	const char *s;
	const void *b;
	size_t n;

	/* precheck bounds nesting; this only guards the harness itself. */
	if (depth > 2 * TETHER_DEPTH_MAX + 2)
		return;
	if (tp_obj_u64(o, &u) == 0)
		fz_sink += (unsigned)u;
	if (tp_obj_i64(o, &i) == 0)
		fz_sink += (unsigned)i;
	if (tp_obj_reg(o, &u) == 0)
		fz_sink += (unsigned)u;
	if (tp_obj_str(o, &s, &n) == 0)
		fz_touch(s, n);
	if (tp_obj_bin(o, &b, &n) == 0)
		fz_touch(b, n);
	if (o->type == MSGPACK_OBJECT_ARRAY)
		fz_walk_array(o, depth);
	else if (o->type == MSGPACK_OBJECT_MAP)
		fz_walk_map(o, depth);
	else if (tp_map_get(o, "pid") != NULL)
		abort();	/* only a map has keys */
}

/* Decode one payload and walk what came out. */
static void fz_decode(const unsigned char *p, size_t len)
{
	struct tp_in in;
	int rc = tp_decode(p, len, &in);

	if (rc == 0) {
		if (!in.have_id || !in.body)
			abort();	/* success promises both */
		fz_walk(in.body, 0);
		fz_walk(&in.u.data, 0);
	} else if (rc != -EBADMSG && rc != -EPROTO) {
		abort();		/* tp_decode documents only these */
	}
	tp_in_destroy(&in);
}

/* Feed the input to the frame reader as if it had arrived on a socket. */
static void fz_frames(const uint8_t *data, size_t size)
{
	struct tp_rbuf rb = { 0 };
	const unsigned char *p;
	size_t len;
	int rc;

	/* Exactly size bytes, so ASan sees any read past the stream. */
	rb.buf = malloc(size ? size : 1);
	if (!rb.buf)
		return;
	if (size)
		memcpy(rb.buf, data, size);
	rb.len = rb.cap = size;
	while ((rc = tp_rbuf_frame(&rb, &p, &len)) == 1) {
		if (len > rb.len - TETHER_FRAME_HDR)
			abort();	/* a frame longer than the bytes */
		fz_decode(p, len);
		tp_rbuf_consume(&rb, len);
	}
	if (rc != 0 && rc != -EMSGSIZE)
		abort();
	tp_rbuf_free(&rb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* libFuzzer passes an exact-size heap copy: overreads are caught. */
	fz_decode(data, size);
	fz_frames(data, size);
	return 0;
}
