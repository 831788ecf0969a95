/*
 * The stdio multiplexer of remote connections (tether-protocol(7),
 * REMOTE CONNECTIONS): the syscall and data sockets and the handshake's
 * answer carried over one byte stream, ssh's stdin and stdout.  Both
 * ends run the same relay: tether_connect_url's child on the
 * controller's host, tether_dial_stdio on the server's.
 *
 * A frame: u8 type, u8 channel, u16 zero, u32 payload length (big
 * endian), the payload.  Each side may send at most TL_MUX_WINDOW bytes
 * of DATA on a channel that the other side has not credited back yet,
 * so a receiver never buffers more than that per channel and never has
 * to stop reading the stream: no channel can block the other.
 */
#ifndef TL_MUX_H
#define TL_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TL_MUX_HDR 8u
#define TL_MUX_VERSION 1u
#define TL_MUX_DATA_MAX (64u << 10)	/* payload of one DATA frame */
#define TL_MUX_WINDOW (256u << 10)	/* uncredited bytes per channel */
#define TL_MUX_TEXT_MAX 255u		/* ERROR text */
#define TL_MUX_ANSWER_MAX 4096u		/* tetherd's answer in an ANSWER */
#define TL_MUX_OPEN_LEN 12u
#define TL_MUX_NO_UID 0xffffffffu	/* OPEN: no extra server uid */

enum tl_mux_type {
	TL_MUX_OPEN = 1,	/* controller: version, connect flags, uid */
	TL_MUX_ANSWER,		/* dial-stdio: attached; tetherd's answer */
	TL_MUX_ERROR,		/* dial-stdio: errno, cause, text; then ends */
	TL_MUX_DATA,		/* bytes of a channel's socket */
	TL_MUX_EOF,		/* the sender's socket ended (no more DATA) */
	TL_MUX_CREDIT,		/* u32: bytes passed on, may be sent again */
};

enum { TL_MUX_CTL = 0, TL_MUX_SYSCALL = 1, TL_MUX_DATASOCK = 2,
       TL_MUX_NCHAN = 3 };

struct tl_mux_chan {
	int fd;			/* the socket this channel stands for */
	unsigned char *ring;	/* what the peer sent, not yet written to fd */
	size_t head, len;
	uint32_t credit;	/* DATA bytes we may still send */
	uint32_t owed;		/* written to fd, not yet credited back */
	bool rd_eof;		/* fd ended ... */
	bool eof_sent;		/* ... and our EOF frame is queued */
	bool peer_eof;		/* the peer's EOF came */
	bool wr_done;		/* fd shut down for writing, or refusing */
};

struct tl_mux {
	int in, out;			/* the stream */
	bool out_sock;			/* out is a socket: send, no SIGPIPE */
	struct tl_mux_chan c[TL_MUX_NCHAN];	/* [1] and [2] */
	unsigned char *ibuf;		/* the stream's frames, as they come */
	size_t ilen;
	unsigned char *obuf;		/* frames for the stream */
	size_t olen;
	int linger_ms;	/* once both sockets ended: how long to wait for
			 * the peer to end its side (-1: forever) */
	char err[256];
	void *block;
};

/* Buffers for a relay (before a fork: the child allocates nothing). */
int tl_mux_init(struct tl_mux *m, int in, int out, int sfd, int dfd);
void tl_mux_free(struct tl_mux *m);
/* Relay until both channels ended both ways (0), the stream ended (0,
 * the peer went away), a frame broke the rules (-EPROTO, m->err says
 * which), or an I/O error (-errno).  Makes every fd non-blocking. */
int tl_mux_run(struct tl_mux *m);

/* One whole frame, blocking (the handshake's). */
int tl_mux_send(int fd, unsigned type, unsigned chan, const void *p,
		size_t len);
/* One whole frame of a type in types (a bit mask, 1u << type) into
 * p[0..cap): its type and length, -ECONNRESET on EOF before a byte,
 * -EPROTO on anything else than such a frame (err says). */
int tl_mux_recv(int fd, unsigned types, unsigned *type, void *p, size_t cap,
		size_t *len, char *err, size_t errsz);
/* The header's fields; 0 or -EPROTO (err says) if it breaks a rule
 * that needs no state: reserved bits, channel, length for the type. */
int tl_mux_check_hdr(const unsigned char *h, unsigned *type, unsigned *chan,
		     uint32_t *len, char *err, size_t errsz);

void tl_put32(unsigned char *p, uint32_t v);
uint32_t tl_get32(const unsigned char *p);

#endif
