/* The remote connection's frames (mux.h): the header's rules, and
 * whole frames read and written blocking for the handshake. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux.h"
#include "proto.h"

void tl_put32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

uint32_t tl_get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* The largest payload a frame of this type may have, the smallest in
 * *min; 0 with *min 1 for a type that does not exist. */
static uint32_t tl_mux_max(unsigned type, uint32_t *min)
{
	*min = 0;
	switch (type) {
	case TL_MUX_OPEN:
		return *min = TL_MUX_OPEN_LEN;
	case TL_MUX_ANSWER:
		*min = 4 + TETHER_FRAME_HDR;
		return 4 + TL_MUX_ANSWER_MAX;
	case TL_MUX_ERROR:
		*min = 8;
		return 8 + TL_MUX_TEXT_MAX;
	case TL_MUX_DATA:
		*min = 1;
		return TL_MUX_DATA_MAX;
	case TL_MUX_EOF:
		return 0;
	case TL_MUX_CREDIT:
		return *min = 4;
	}
	*min = 1;
	return 0;
}

int tl_mux_check_hdr(const unsigned char *h, unsigned *type, unsigned *chan,
		     uint32_t *len, char *err, size_t errsz)
{
	uint32_t min, max;

	*type = h[0];
	*chan = h[1];
	*len = tl_get32(h + 4);
	max = tl_mux_max(*type, &min);
	if (min > max) {
		snprintf(err, errsz, "frame of unknown type %u", *type);
		return -EPROTO;
	}
	if (h[2] || h[3]) {
		snprintf(err, errsz, "frame header: reserved bytes not zero");
		return -EPROTO;
	}
	if ((*type <= TL_MUX_ERROR) != (*chan == TL_MUX_CTL) ||
	    *chan >= TL_MUX_NCHAN) {
		snprintf(err, errsz, "frame of type %u on channel %u", *type,
			 *chan);
		return -EPROTO;
	}
	if (*len < min || *len > max) {
		snprintf(err, errsz, "frame of type %u: length %u outside "
			 "%u..%u", *type, *len, min, max);
		return -EPROTO;
	}
	return 0;
}

int tl_mux_send(int fd, unsigned type, unsigned chan, const void *p,
		size_t len)
{
	unsigned char h[TL_MUX_HDR] = { (unsigned char)type,
					(unsigned char)chan };
	int rc;

	tl_put32(h + 4, (uint32_t)len);
	if ((rc = tp_write_all(fd, h, sizeof(h))) < 0)
		return rc;
	return len ? tp_write_all(fd, p, len) : 0;
}

int tl_mux_recv(int fd, unsigned types, unsigned *type, void *p, size_t cap,
		size_t *len, char *err, size_t errsz)
{
	unsigned char h[TL_MUX_HDR];
	unsigned chan;
	uint32_t n;
	ssize_t got;
	int rc;

	/* the first byte alone: EOF there is a peer that never answered,
	 * EOF later a frame cut short */
	while ((got = read(fd, h, 1)) < 0 && errno == EINTR)
		;
	if (got <= 0) {
		snprintf(err, errsz, "the stream ended before a frame");
		return got < 0 ? -errno : -ECONNRESET;
	}
	if ((rc = tp_read_all(fd, h + 1, sizeof(h) - 1)) < 0 ||
	    (rc = tl_mux_check_hdr(h, type, &chan, &n, err, errsz)) < 0) {
		if (rc == -ECONNRESET)
			snprintf(err, errsz, "the stream ended in a frame");
		return rc == -ECONNRESET ? -EPROTO : rc;
	}
	if (!(types & (1u << *type)) || n > cap) {
		snprintf(err, errsz, "unexpected frame of type %u", *type);
		return -EPROTO;
	}
	if ((rc = tp_read_all(fd, p, n)) < 0) {
		snprintf(err, errsz, "the stream ended in a frame");
		return rc == -ECONNRESET ? -EPROTO : rc;
	}
	*len = n;
	return 0;
}
