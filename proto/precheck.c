/*
 * Validate raw msgpack before msgpack-c sees it.  msgpack-c allocates a
 * container's element array from the count in its header, so five bytes
 * claiming 2^32 elements ask for ~96 GB (msgpack-c #1013).  Walking the
 * bytes first bounds every count by the bytes actually present.
 */
#include <errno.h>

#include "proto.h"

struct tp_walk {
	const unsigned char *p;
	size_t len;
	size_t off;
	size_t objs;
};

static int tp_take(struct tp_walk *w, size_t n, uint64_t *v)
{
	uint64_t x = 0;

	if (w->len - w->off < n)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | w->p[w->off + i];
	w->off += n;
	if (v)
		*v = x;
	return 0;
}

static int tp_skip_bytes(struct tp_walk *w, uint64_t n)
{
	if (w->len - w->off < n)
		return -EBADMSG;
	w->off += n;
	return 0;
}

static int tp_walk_one(struct tp_walk *w, unsigned depth);

static int tp_walk_items(struct tp_walk *w, uint64_t n, unsigned depth)
{
	if (depth >= TETHER_DEPTH_MAX)
		return -EBADMSG;
	/* Each element takes at least one byte. */
	if (n > w->len - w->off)
		return -EBADMSG;
	for (uint64_t i = 0; i < n; i++) {
		int rc = tp_walk_one(w, depth + 1);

		if (rc < 0)
			return rc;
	}
	return 0;
}

static int tp_walk_one(struct tp_walk *w, unsigned depth)
{
	uint64_t n;
	unsigned char b;
	int rc;

	if (++w->objs > TP_OBJS_MAX)
		return -EBADMSG;
	if ((rc = tp_take(w, 1, &n)) < 0)
		return rc;
	b = (unsigned char)n;
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 0;
	if (b >= 0x80 && b <= 0x8f)
		return tp_walk_items(w, 2u * (b & 0x0f), depth);
	if (b >= 0x90 && b <= 0x9f)
		return tp_walk_items(w, b & 0x0f, depth);
	if (b >= 0xa0 && b <= 0xbf)
		return tp_skip_bytes(w, b & 0x1f);
	switch (b) {
	case 0xc4: case 0xd9:	/* bin8, str8 */
		return tp_take(w, 1, &n) ?: tp_skip_bytes(w, n);
	case 0xc5: case 0xda:
		return tp_take(w, 2, &n) ?: tp_skip_bytes(w, n);
	case 0xc6: case 0xdb:
		return tp_take(w, 4, &n) ?: tp_skip_bytes(w, n);
	case 0xca: case 0xce: case 0xd2:
		return tp_skip_bytes(w, 4);
	case 0xcb: case 0xcf: case 0xd3:
		return tp_skip_bytes(w, 8);
	case 0xcc: case 0xd0:
		return tp_skip_bytes(w, 1);
	case 0xcd: case 0xd1:
		return tp_skip_bytes(w, 2);
	case 0xdc:
		return tp_take(w, 2, &n) ?: tp_walk_items(w, n, depth);
	case 0xdd:
		return tp_take(w, 4, &n) ?: tp_walk_items(w, n, depth);
	case 0xde:
		return tp_take(w, 2, &n) ?: tp_walk_items(w, 2 * n, depth);
	case 0xdf:
		return tp_take(w, 4, &n) ?: tp_walk_items(w, 2 * n, depth);
	default:		/* 0xc1 and every ext type: not ours */
		return -EBADMSG;
	}
}

int tp_precheck(const unsigned char *p, size_t len)
{
	struct tp_walk w = { .p = p, .len = len };
	int rc = tp_walk_one(&w, 0);

	if (rc < 0)
		return rc;
	/* A frame holds exactly one value. */
	return w.off == len ? 0 : -EBADMSG;
}
