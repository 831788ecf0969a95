/*
 * proto: framing and msgpack codec shared by tetherd and libtether.
 * Functions are prefixed tp_ and return 0 or a negative errno.
 */
#ifndef TETHER_PROTO_INTERNAL_H
#define TETHER_PROTO_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <msgpack.h>

#include "tether_proto.h"

/* The big-endian 32-bit words of the wire: a frame's length, a data
 * chunk's length and kind. */
static inline void tp_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static inline uint32_t tp_get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline void tp_put_be64(unsigned char *p, uint64_t v)
{
	tp_put_be32(p, (uint32_t)(v >> 32));
	tp_put_be32(p + 4, (uint32_t)v);
}

static inline uint64_t tp_get_be64(const unsigned char *p)
{
	return (uint64_t)tp_get_be32(p) << 32 | tp_get_be32(p + 4);
}

/* The errno an ABORT chunk's length field carries, or dflt when it
 * carries none a sender could mean (0, or past any errno). */
static inline int tp_chunk_abort_errno(uint32_t len, int dflt)
{
	return len > 0 && len < 4096 ? (int)len : dflt;
}

/* Most msgpack objects one frame may decode to: bounds the unpacker's
 * zone, since every container allocates its element array up front. */
#define TP_OBJS_MAX 70000u

/* frame.c: a growable input buffer that yields whole frames. */
struct tp_rbuf {
	unsigned char *buf;
	size_t len;			/* bytes held */
	size_t cap;
	unsigned small;			/* small frames since the last big one */
};

void tp_rbuf_free(struct tp_rbuf *rb);
/* Read once from fd (non-blocking or not).  Returns bytes read, 0 on EOF,
 * or -errno (-EAGAIN when nothing is there). */
ssize_t tp_rbuf_fill(struct tp_rbuf *rb, int fd);
/* The same from a socket with recv(2) flags: MSG_DONTWAIT makes the read
 * non-blocking whatever the socket's O_NONBLOCK (which whoever holds a
 * copy of the open file can clear). */
ssize_t tp_rbuf_recv(struct tp_rbuf *rb, int fd, int flags);
/* A whole frame at the head: 1 and its payload, 0 if incomplete,
 * -EMSGSIZE if its header announces more than TETHER_FRAME_MAX. */
int tp_rbuf_frame(const struct tp_rbuf *rb, const unsigned char **payload,
		  size_t *len);
void tp_rbuf_consume(struct tp_rbuf *rb, size_t payload_len);

/* precheck.c: walk raw msgpack bytes and refuse anything whose declared
 * sizes exceed the bytes present, that nests too deep, holds too many
 * objects or uses ext types, before msgpack-c allocates for it. */
int tp_precheck(const unsigned char *p, size_t len);

/* codec.c: the writer every message goes through.  msgpack-c's pack
 * calls return -1 when the buffer cannot grow; the writer keeps the
 * first failure, skips every later write, and whoever finishes the frame
 * (tp_msg_finish) reports it instead of sending half a message. */
struct tp_w {
	msgpack_packer *pk;
	int err;			/* 0, or the first failure (-ENOMEM) */
};

void tp_w_init(struct tp_w *w, msgpack_packer *pk);
/* A writer that appends to sb, through pk (the caller's storage). */
void tp_w_buffer(struct tp_w *w, msgpack_packer *pk, msgpack_sbuffer *sb);
/* Each returns w->err: 0 while everything went.  The scalar ones are
 * inline: a SYSCALL's round trip packs a dozen of them. */
static inline int tp_w_took(struct tp_w *w, int rc)
{
	if (rc < 0 && !w->err)
		w->err = -ENOMEM;
	return w->err;
}

static inline int tp_w_nil(struct tp_w *w)
{
	return w->err ? w->err : tp_w_took(w, msgpack_pack_nil(w->pk));
}

static inline int tp_w_bool(struct tp_w *w, bool v)
{
	if (w->err)
		return w->err;
	return tp_w_took(w, v ? msgpack_pack_true(w->pk)
			      : msgpack_pack_false(w->pk));
}

static inline int tp_w_i64(struct tp_w *w, int64_t v)
{
	return w->err ? w->err : tp_w_took(w, msgpack_pack_int64(w->pk, v));
}

static inline int tp_w_u64(struct tp_w *w, uint64_t v)
{
	return w->err ? w->err : tp_w_took(w, msgpack_pack_uint64(w->pk, v));
}

static inline int tp_w_array(struct tp_w *w, uint32_t n)
{
	return w->err ? w->err : tp_w_took(w, msgpack_pack_array(w->pk, n));
}

int tp_w_str(struct tp_w *w, const void *p, size_t n);
int tp_w_cstr(struct tp_w *w, const char *s);
int tp_w_bin(struct tp_w *w, const void *p, size_t n);
/* A map header: only the message tables write one (proto/messages.c),
 * from the entries they count themselves. */
int tp_w_map(struct tp_w *w, uint32_t n);
/* Bytes that are already msgpack (a parked record). */
int tp_w_raw(struct tp_w *w, const void *p, size_t n);
/* What the caller found wrong while packing (-EINVAL ...) sticks too. */
int tp_w_fail(struct tp_w *w, int err);
/* The envelope's head, [id, op, or [id, err, (the caller packs the
 * body): one writer for packed and gathered frames alike. */
void tp_w_request(struct tp_w *w, uint64_t id, unsigned op);
void tp_w_reply(struct tp_w *w, uint64_t id, int err);

/* codec.c: building frames.  pk is there for tests that write raw
 * frames; tether's own code writes through w. */
struct tp_msg {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct tp_w w;			/* on pk */
};

void tp_msg_init(struct tp_msg *m);
void tp_msg_destroy(struct tp_msg *m);
/* The finished frame's buffer (*size bytes, *cap allocated), the
 * caller's to free() from now on; m is left empty. */
void *tp_msg_steal(struct tp_msg *m, size_t *size, size_t *cap);
/* Start [id, op, <body>] or [id, err, <body>]; the caller packs the body. */
void tp_msg_request(struct tp_msg *m, uint64_t id, unsigned op);
void tp_msg_reply(struct tp_msg *m, uint64_t id, int err);
/* Patch the length prefix.  -EMSGSIZE if the payload outgrew the limit,
 * -ENOMEM (w's failure) if packing ran out: the message then must not be
 * sent. */
int tp_msg_finish(struct tp_msg *m);
const void *tp_msg_data(const struct tp_msg *m);
size_t tp_msg_size(const struct tp_msg *m);
/* A reply [id, err, message] in one go. */
int tp_msg_error(struct tp_msg *m, uint64_t id, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Raw helpers for tests that build frames by hand (malformed ones
 * included); tether itself packs through proto/messages.h.  0 or -1. */
int tp_pack_str(msgpack_packer *pk, const char *s);
int tp_pack_kv_str(msgpack_packer *pk, const char *k, const char *v);
int tp_pack_kv_int(msgpack_packer *pk, const char *k, int64_t v);
int tp_pack_kv_bool(msgpack_packer *pk, const char *k, bool v);

/* gather.c: a frame whose byte strings of ref_min bytes or more are
 * pointed at, not copied: sent by iovecs (sendmsg).  Everything such a
 * string points at must stay as it is until the frame has been sent or
 * copied.  Packed through w as a tp_msg is; tp_gmsg_finish patches the
 * length prefix (-EMSGSIZE, -ENOMEM as tp_msg_finish) and builds iov
 * (niov entries, size bytes in all). */
struct tp_gref {
	size_t at;			/* goes after this many head bytes */
	const void *p;
	size_t n;
};

struct tp_gmsg {
	msgpack_sbuffer head;		/* every byte not pointed at */
	struct tp_gref *refs;
	size_t nrefs;
	size_t caprefs;
	size_t refbytes;
	size_t ref_min;
	msgpack_packer pk;
	struct tp_w w;			/* on pk */
	struct iovec *iov;		/* after tp_gmsg_finish */
	size_t niov;
	size_t size;
};

/* ref_min below 16 is taken as 16: headers are always copied. */
void tp_gmsg_init(struct tp_gmsg *m, size_t ref_min);
void tp_gmsg_request(struct tp_gmsg *m, uint64_t id, unsigned op);
void tp_gmsg_reply(struct tp_gmsg *m, uint64_t id, int err);
int tp_gmsg_finish(struct tp_gmsg *m);
void tp_gmsg_destroy(struct tp_gmsg *m);

/* codec.c: decoding one frame's payload into [a, b, body]. */
struct tp_in {
	msgpack_unpacked u;
	uint64_t id;
	int64_t code;			/* op of a request, err of a reply */
	const msgpack_object *body;
	bool have_id;			/* id was readable even if shape was not */
};

/* 0, -EBADMSG when the bytes are not one well-formed msgpack value
 * (the connection must be dropped), -EPROTO when they are but the
 * envelope is wrong (an error reply can still name have_id/id). */
int tp_decode(const unsigned char *payload, size_t len, struct tp_in *in);
void tp_in_destroy(struct tp_in *in);

/* codec.c: typed access to decoded objects; -EINVAL on a type mismatch. */
int tp_obj_u64(const msgpack_object *o, uint64_t *v);
int tp_obj_i64(const msgpack_object *o, int64_t *v);
/* Any integer as a 64-bit register value (negative ones sign-extended). */
int tp_obj_reg(const msgpack_object *o, uint64_t *v);
int tp_obj_str(const msgpack_object *o, const char **p, size_t *n);
int tp_obj_bin(const msgpack_object *o, const void **p, size_t *n);
const msgpack_object *tp_obj_array(const msgpack_object *o, size_t *n);
/* The value of key in map, or NULL: for tests and tools that look into
 * raw frames; tether itself reads through proto/messages.h. */
const msgpack_object *tp_map_get(const msgpack_object *map, const char *key);

/* utf8.c: the length of the UTF-8 sequence at b[0..n) (1 for ASCII;
 * shortest form, no surrogates, at most U+10FFFF), or 0 if there is
 * none; and whether all of p[0..n) is such text. */
size_t tp_utf8_seq(const unsigned char *b, size_t n);
bool tp_utf8_valid(const void *p, size_t n);

/* paths.c: where a socket lives when nobody says. */
int tp_default_socket_path(char *buf, size_t size);
/* The same with the bases /run/user and /tmp given (for tests). */
int tp_default_socket_path_in(const char *run, const char *tmp, char *buf,
			      size_t size);

/* paths.c: may dir hold a socket we talk to?  dir and every directory
 * up to / must belong to root, uid or also (TP_UID_NONE: nobody more),
 * and be writable by no one else unless sticky (like /tmp: then the
 * entry below it is what must be trusted, and the next step checks
 * it).  Symlinks are followed component by component, each one's owner
 * checked like a directory's, then its target walked and checked: what
 * is checked is everything a later open of the path goes through, so
 * nobody untrusted can swap any of it afterwards.  0, or -EACCES,
 * -ENOTDIR, -ELOOP, -ENAMETOOLONG or lstat's -errno (-ENOENT: missing),
 * with one line in err naming the directory, e.g. "/tmp/tether-0
 * belongs to uid 65534 (mode 0777), not to uid 0 or root". */
#define TP_UID_NONE ((uid_t)-1)
int tp_check_dir_chain(const char *dir, uid_t uid, uid_t also, char *err,
		       size_t errsz);

/* io.c: EINTR-retrying whole-buffer I/O for blocking fds. */
int tp_write_all(int fd, const void *buf, size_t len);
/* The same for niov iovecs (used up: advanced past what went). */
int tp_writev_all(int fd, struct iovec *iov, size_t niov);
/* Past n bytes sent from *iov (*niov entries): the whole iovecs dropped,
 * the next one shortened. */
void tp_iov_advance(struct iovec **iov, size_t *niov, size_t n);
int tp_read_all(int fd, void *buf, size_t len);
/* The same, each read hashed into h (if not NULL) as it lands, while it
 * is still in the cache. */
struct tp_hash;
int tp_read_all_hashed(int fd, void *buf, size_t len, struct tp_hash *h);
/* One recv(2) of at most len bytes that never waits: the count (> 0),
 * -EAGAIN when nothing is there yet, -ECONNRESET at end of file, or
 * -errno; EINTR is retried.  The read of a loop that must not block. */
ssize_t tp_recv_some(int fd, void *buf, size_t len);
/* len bytes at off, whatever the file position: -EIO if the file is
 * shorter. */
int tp_pread_all(int fd, void *buf, size_t len, off_t off);
/* A small file whole (policy files): a regular file of at most max
 * bytes, never through a symlink.  0 with *buf (NUL-terminated, the
 * caller frees) and *len; -ELOOP for a symlink, -EINVAL for anything but
 * a regular file, -EFBIG over max (also for one that grew while read),
 * or the -errno of open or read. */
int tp_read_file(const char *path, size_t max, char **buf, size_t *len);
/* The fds of every SCM_RIGHTS message in msg: the first max into fds,
 * any beyond closed.  Returns how many came, which may exceed max. */
struct msghdr;
int tp_cmsg_fds(struct msghdr *msg, int *fds, int max);
/* What one message can carry (SCM_MAX_FD). */
#define TP_SCM_MAX_FD 253
/* One message of at most len bytes into buf and its fds (close-on-exec),
 * as tp_cmsg_fds keeps them: bytes received (*nfds: how many fds came,
 * maybe more than max; *msg_flags: MSG_CTRUNC ...), or -errno.  EINTR
 * is retried; flags: MSG_DONTWAIT or 0. */
ssize_t tp_recv_fds(int sock, void *buf, size_t len, int flags, int *fds,
		    int max, int *nfds, int *msg_flags);
/* Its twin: len bytes of buf and nfds fds (0..TP_SCM_MAX_FD; none: no
 * control message) in one sendmsg, MSG_NOSIGNAL always.  Bytes sent or
 * -errno (-EINVAL for too many fds); EINTR is retried; flags:
 * MSG_DONTWAIT or 0. */
ssize_t tp_send_fds(int sock, const void *buf, size_t len, int flags,
		    const int *fds, int nfds);

#endif
