/*
 * Frames sent by gather: what a message packs is copied into one small
 * head buffer, except byte strings of ref_min bytes or more, which are
 * only pointed at.  A REAP reply of 500 4 KiB reads is then 10 KiB of
 * head and 500 pointers into the guarded buffers the reads went into,
 * sent with sendmsg's iovecs instead of being copied into a 2 MiB frame
 * first (msgpack-c's vrefbuffer does the same with chunk pointers; the
 * head here is one buffer, so growing it never moves what an iovec
 * points at: iovecs are built once the frame is finished).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define TP_GMSG_REF_FLOOR 16

static int tp_gmsg_write(void *data, const char *buf, size_t len)
{
	struct tp_gmsg *m = data;

	if (len < m->ref_min)
		return msgpack_sbuffer_write(&m->head, buf, len);
	if (m->nrefs == m->caprefs) {
		size_t cap = m->caprefs ? 2 * m->caprefs : 64;
		struct tp_gref *nr = realloc(m->refs, cap * sizeof(*nr));

		if (!nr)
			return -1;
		m->refs = nr;
		m->caprefs = cap;
	}
	m->refs[m->nrefs++] = (struct tp_gref){ .at = m->head.size,
						.p = buf, .n = len };
	m->refbytes += len;
	return 0;
}

void tp_gmsg_init(struct tp_gmsg *m, size_t ref_min)
{
	static const char hdr[TETHER_FRAME_HDR];

	memset(m, 0, sizeof(*m));
	msgpack_sbuffer_init(&m->head);
	/* msgpack-c writes every header and scalar (9 bytes at most) from
	 * its own stack: those must be copied, whatever the caller asks. */
	m->ref_min = ref_min < TP_GMSG_REF_FLOOR ? TP_GMSG_REF_FLOOR : ref_min;
	msgpack_packer_init(&m->pk, m, tp_gmsg_write);
	tp_w_init(&m->w, &m->pk);
	tp_w_raw(&m->w, hdr, sizeof(hdr));
}

void tp_gmsg_request(struct tp_gmsg *m, uint64_t id, unsigned op)
{
	tp_w_request(&m->w, id, op);
}

void tp_gmsg_reply(struct tp_gmsg *m, uint64_t id, int err)
{
	tp_w_reply(&m->w, id, err);
}

int tp_gmsg_finish(struct tp_gmsg *m)
{
	size_t plen, niov = 0, at = 0;
	struct iovec *iov;

	if (m->w.err)
		return m->w.err;
	if (!m->head.data || m->head.size < TETHER_FRAME_HDR)
		return -ENOMEM;
	plen = m->head.size + m->refbytes - TETHER_FRAME_HDR;
	if (plen > TETHER_FRAME_MAX)
		return -EMSGSIZE;
	tp_put_be32((unsigned char *)m->head.data, (uint32_t)plen);
	if (!(iov = calloc(2 * m->nrefs + 1, sizeof(*iov))))
		return -ENOMEM;
	for (size_t i = 0; i < m->nrefs; i++) {
		const struct tp_gref *r = &m->refs[i];

		if (r->at > at)
			iov[niov++] = (struct iovec){ m->head.data + at,
						      r->at - at };
		iov[niov++] = (struct iovec){ (void *)r->p, r->n };
		at = r->at;
	}
	if (m->head.size > at)
		iov[niov++] = (struct iovec){ m->head.data + at,
					      m->head.size - at };
	free(m->iov);
	m->iov = iov;
	m->niov = niov;
	m->size = m->head.size + m->refbytes;
	return 0;
}

void tp_gmsg_destroy(struct tp_gmsg *m)
{
	msgpack_sbuffer_destroy(&m->head);
	free(m->refs);
	free(m->iov);
	memset(m, 0, sizeof(*m));
}
