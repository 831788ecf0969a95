/* Length-prefixed frames: accumulate bytes, hand out whole payloads. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto.h"

#define TP_RBUF_CHUNK 65536u
/* Small frames after the last large one before its memory goes back. */
#define TP_RBUF_SMALL_MAX 16u

void tp_rbuf_free(struct tp_rbuf *rb)
{
	free(rb->buf);
	rb->buf = NULL;
	rb->len = rb->cap = 0;
}

/* Room for at least the frame at the head (once its header is known),
 * never more than one maximal frame, whatever the peer announces. */
static int tp_rbuf_reserve(struct tp_rbuf *rb)
{
	size_t need = TP_RBUF_CHUNK;
	unsigned char *nb;

	if (rb->len >= TETHER_FRAME_HDR) {
		uint32_t plen = tp_get_be32(rb->buf);

		if (plen > TETHER_FRAME_MAX)
			return -EMSGSIZE;
		if (TETHER_FRAME_HDR + plen > need)
			need = TETHER_FRAME_HDR + plen;
	}
	if (need > rb->cap) {
		nb = realloc(rb->buf, need);
		if (!nb)
			return -ENOMEM;
		rb->buf = nb;
		rb->cap = need;
	}
	/* Full means whole frames are waiting: consume them first. */
	return rb->cap > rb->len ? 0 : -ENOBUFS;
}

ssize_t tp_rbuf_fill(struct tp_rbuf *rb, int fd)
{
	ssize_t n;
	int rc = tp_rbuf_reserve(rb);

	if (rc < 0)
		return rc;
	do
		n = read(fd, rb->buf + rb->len, rb->cap - rb->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rb->len += (size_t)n;
	return n;
}

ssize_t tp_rbuf_recv(struct tp_rbuf *rb, int fd, int flags)
{
	ssize_t n;
	int rc = tp_rbuf_reserve(rb);

	if (rc < 0)
		return rc;
	do
		n = recv(fd, rb->buf + rb->len, rb->cap - rb->len, flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	rb->len += (size_t)n;
	return n;
}

int tp_rbuf_frame(const struct tp_rbuf *rb, const unsigned char **payload,
		  size_t *len)
{
	uint32_t plen;

	if (rb->len < TETHER_FRAME_HDR)
		return 0;
	plen = tp_get_be32(rb->buf);
	if (plen > TETHER_FRAME_MAX)
		return -EMSGSIZE;
	if (rb->len - TETHER_FRAME_HDR < plen)
		return 0;
	*payload = rb->buf + TETHER_FRAME_HDR;
	*len = plen;
	return 1;
}

void tp_rbuf_consume(struct tp_rbuf *rb, size_t payload_len)
{
	size_t used = TETHER_FRAME_HDR + payload_len;

	memmove(rb->buf, rb->buf + used, rb->len - used);
	rb->len -= used;
	/* Give back the memory of large frames once they stop coming: not
	 * after each one, for a peer that sends them back to back (a bulk
	 * SUBMIT of writes, REAP replies) would have every page of a 2 MiB
	 * buffer faulted in afresh for every frame -- in tetherd, 900 page
	 * faults a bench_async cycle, 5-10% of its time. */
	if (used > TP_RBUF_CHUNK)
		rb->small = 0;
	else if (rb->small < TP_RBUF_SMALL_MAX)
		rb->small++;
	if (rb->cap > 4 * TP_RBUF_CHUNK && rb->len < TP_RBUF_CHUNK &&
	    rb->small >= TP_RBUF_SMALL_MAX) {
		unsigned char *nb = realloc(rb->buf, TP_RBUF_CHUNK);

		if (nb) {
			rb->buf = nb;
			rb->cap = TP_RBUF_CHUNK;
		}
	}
}
