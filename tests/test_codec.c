/* proto/: framing, precheck and codec, without any server. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"

/* ---- helpers --------------------------------------------------------- */

/* The payload of a finished message (after the length prefix). */
static const unsigned char *payload(const struct tp_msg *m, size_t *len)
{
	*len = tp_msg_size(m) - TETHER_FRAME_HDR;
	return (const unsigned char *)tp_msg_data(m) + TETHER_FRAME_HDR;
}

static int precheck_bytes(const char *hex)
{
	unsigned char buf[256];
	size_t n = 0;

	for (; hex[0] && hex[1] && n < sizeof(buf); hex += 2) {
		unsigned v;

		cr_assert_eq(sscanf(hex, "%2x", &v), 1, "bad hex %s", hex);
		buf[n++] = (unsigned char)v;
	}
	return tp_precheck(buf, n);
}

static int decode_packed(const msgpack_sbuffer *sb, struct tp_in *in)
{
	return tp_decode((const unsigned char *)sb->data, sb->size, in);
}

static uint32_t be32(const void *p)
{
	const unsigned char *b = p;

	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

/* ---- messages -------------------------------------------------------- */

Test(codec, request_round_trip)
{
	struct tp_msg m;
	struct tp_in in;
	const unsigned char *p;
	const msgpack_object *b;
	size_t len, n;
	int64_t v;

	tp_msg_init(&m);
	tp_msg_request(&m, 42, TETHER_OP_SYSCALL);
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_int64(&m.pk, 39);
	msgpack_pack_array(&m.pk, 0);
	cr_assert_eq(tp_msg_finish(&m), 0);
	p = payload(&m, &len);
	cr_assert_eq(be32(tp_msg_data(&m)), len);
	cr_assert_eq(tp_decode(p, len, &in), 0);
	cr_assert(in.have_id);
	cr_assert_eq(in.id, 42);
	cr_assert_eq(in.code, TETHER_OP_SYSCALL);
	b = tp_obj_array(in.body, &n);
	cr_assert_not_null(b);
	cr_assert_eq(n, 2);
	cr_assert_eq(tp_obj_i64(&b[0], &v), 0);
	cr_assert_eq(v, 39);
	cr_assert_not_null(tp_obj_array(&b[1], &n));
	cr_assert_eq(n, 0);
	tp_in_destroy(&in);
	tp_msg_destroy(&m);
}

Test(codec, request_max_id)
{
	struct tp_msg m;
	struct tp_in in;
	const unsigned char *p;
	size_t len;

	tp_msg_init(&m);
	tp_msg_request(&m, UINT64_MAX, TETHER_OP_STATUS);
	msgpack_pack_nil(&m.pk);
	cr_assert_eq(tp_msg_finish(&m), 0);
	p = payload(&m, &len);
	cr_assert_eq(tp_decode(p, len, &in), 0);
	cr_assert_eq(in.id, UINT64_MAX);
	cr_assert_eq(in.code, TETHER_OP_STATUS);
	cr_assert_eq(in.body->type, MSGPACK_OBJECT_NIL);
	tp_in_destroy(&in);
	tp_msg_destroy(&m);
}

Test(codec, reply_round_trip_with_map)
{
	struct tp_msg m;
	struct tp_in in;
	const unsigned char *p;
	const char *s;
	size_t len, n;
	int64_t v;

	tp_msg_init(&m);
	tp_msg_reply(&m, 9, 0);
	msgpack_pack_map(&m.pk, 4);
	tp_pack_kv_int(&m.pk, "pid", 1234);
	tp_pack_kv_str(&m.pk, "socket", "/tmp/x");
	tp_pack_kv_str(&m.pk, "none", NULL);
	tp_pack_kv_bool(&m.pk, "persistent", true);
	cr_assert_eq(tp_msg_finish(&m), 0);
	p = payload(&m, &len);
	cr_assert_eq(tp_decode(p, len, &in), 0);
	cr_assert_eq(in.id, 9);
	cr_assert_eq(in.code, 0);
	cr_assert_eq(tp_obj_i64(tp_map_get(in.body, "pid"), &v), 0);
	cr_assert_eq(v, 1234);
	cr_assert_eq(tp_obj_str(tp_map_get(in.body, "socket"), &s, &n), 0);
	cr_assert_eq(n, 6);
	cr_assert_eq(memcmp(s, "/tmp/x", 6), 0);
	cr_assert_eq(tp_map_get(in.body, "none")->type, MSGPACK_OBJECT_NIL);
	cr_assert_eq(tp_map_get(in.body, "persistent")->type,
		     MSGPACK_OBJECT_BOOLEAN);
	cr_assert(tp_map_get(in.body, "persistent")->via.boolean);
	tp_in_destroy(&in);
	tp_msg_destroy(&m);
}

Test(codec, reply_negative_code)
{
	struct tp_msg m;
	struct tp_in in;
	const unsigned char *p;
	size_t len;

	tp_msg_init(&m);
	tp_msg_reply(&m, 3, -1);
	msgpack_pack_nil(&m.pk);
	cr_assert_eq(tp_msg_finish(&m), 0);
	p = payload(&m, &len);
	cr_assert_eq(tp_decode(p, len, &in), 0);
	cr_assert_eq(in.code, -1);
	tp_in_destroy(&in);
	tp_msg_destroy(&m);
}

Test(codec, error_reply_carries_text)
{
	struct tp_msg m;
	struct tp_in in;
	const unsigned char *p;
	const char *s;
	size_t len, n;

	tp_msg_init(&m);
	cr_assert_eq(tp_msg_error(&m, 5, ENOENT, "no %s here (%d)", "x", 7), 0);
	p = payload(&m, &len);
	cr_assert_eq(tp_decode(p, len, &in), 0);
	cr_assert_eq(in.id, 5);
	cr_assert_eq(in.code, ENOENT);
	cr_assert_eq(tp_obj_str(in.body, &s, &n), 0);
	cr_assert_eq(n, strlen("no x here (7)"));
	cr_assert_eq(memcmp(s, "no x here (7)", n), 0);
	tp_in_destroy(&in);
	tp_msg_destroy(&m);
}

Test(codec, finish_refuses_oversized_frame)
{
	struct tp_msg m;
	char *big = calloc(1, TETHER_FRAME_MAX);

	cr_assert_not_null(big);
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_SYSCALL);
	msgpack_pack_bin(&m.pk, TETHER_FRAME_MAX);
	msgpack_pack_bin_body(&m.pk, big, TETHER_FRAME_MAX);
	cr_assert_eq(tp_msg_finish(&m), -EMSGSIZE);
	tp_msg_destroy(&m);
	free(big);
}

Test(codec, finish_accepts_frame_at_limit)
{
	struct tp_msg m;
	char *big;
	/* [1, 2, bin32 of n]: 1 + 1 + 1 + 5 bytes of envelope */
	size_t n = TETHER_FRAME_MAX - 8;

	cr_assert_not_null(big = calloc(1, n));
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_SYSCALL);
	msgpack_pack_bin(&m.pk, n);
	msgpack_pack_bin_body(&m.pk, big, n);
	cr_assert_eq(tp_msg_finish(&m), 0);
	cr_assert_eq(be32(tp_msg_data(&m)), TETHER_FRAME_MAX);
	tp_msg_destroy(&m);
	free(big);
}

/* ---- gathered frames (proto/gather.c) ---------------------------------- */

/* What a gathered frame's iovecs hold, in one buffer. */
static unsigned char *gather_flat(const struct tp_gmsg *g)
{
	unsigned char *b = malloc(g->size), *p = b;

	cr_assert_not_null(b);
	for (size_t i = 0; i < g->niov; i++) {
		memcpy(p, g->iov[i].iov_base, g->iov[i].iov_len);
		p += g->iov[i].iov_len;
	}
	cr_assert_eq((size_t)(p - b), g->size);
	return b;
}

static void gather_body(struct tp_w *w, const char *big, const char *mid)
{
	tp_w_array(w, 5);
	tp_w_bin(w, "tiny", 4);
	tp_w_bin(w, big, 4096);
	tp_w_i64(w, -5);
	tp_w_bin(w, mid, 600);
	tp_w_cstr(w, "end");
}

/* The same bytes as a copied frame; the large strings are pointed at
 * where they are, the small ones copied into the head. */
Test(codec, gathered_frame_is_the_copied_frame)
{
	static char big[4096], mid[600];
	struct tp_gmsg g;
	struct tp_msg m;
	unsigned char *flat;

	memset(big, 'b', sizeof(big));
	memset(mid, 'm', sizeof(mid));
	tp_msg_init(&m);
	tp_msg_reply(&m, 9, 0);
	gather_body(&m.w, big, mid);
	cr_assert_eq(tp_msg_finish(&m), 0);
	tp_gmsg_init(&g, 512);
	tp_gmsg_reply(&g, 9, 0);
	gather_body(&g.w, big, mid);
	cr_assert_eq(tp_gmsg_finish(&g), 0);
	cr_assert_eq(g.size, tp_msg_size(&m));
	flat = gather_flat(&g);
	cr_assert_eq(memcmp(flat, tp_msg_data(&m), g.size), 0);
	/* head, big, head, mid, head */
	cr_assert_eq(g.niov, 5);
	cr_assert_eq(g.iov[1].iov_base, (void *)big);
	cr_assert_eq(g.iov[3].iov_base, (void *)mid);
	free(flat);
	tp_gmsg_destroy(&g);
	tp_msg_destroy(&m);
}

/* A ref_min so small that msgpack-c's own headers and scalars would be
 * pointed at (they are written from its stack) is raised: the frame is
 * still the copied one. */
Test(codec, gathered_frame_copies_headers_whatever_ref_min)
{
	static char mid[600];
	struct tp_gmsg g;
	struct tp_msg m;
	unsigned char *flat;

	memset(mid, 'q', sizeof(mid));
	tp_msg_init(&m);
	tp_msg_reply(&m, UINT64_MAX, 0);
	tp_w_u64(&m.w, UINT64_MAX - 1);
	tp_w_bin(&m.w, mid, sizeof(mid));
	cr_assert_eq(tp_msg_finish(&m), 0);
	tp_gmsg_init(&g, 1);
	tp_gmsg_reply(&g, UINT64_MAX, 0);
	tp_w_u64(&g.w, UINT64_MAX - 1);
	tp_w_bin(&g.w, mid, sizeof(mid));
	cr_assert_eq(tp_gmsg_finish(&g), 0);
	flat = gather_flat(&g);
	cr_assert_eq(g.size, tp_msg_size(&m));
	cr_assert_eq(memcmp(flat, tp_msg_data(&m), g.size), 0);
	free(flat);
	tp_gmsg_destroy(&g);
	tp_msg_destroy(&m);
}

Test(codec, gathered_frame_over_the_limit_is_emsgsize)
{
	char *big = calloc(1, TETHER_FRAME_MAX);
	struct tp_gmsg g;

	cr_assert_not_null(big);
	tp_gmsg_init(&g, 512);
	tp_gmsg_request(&g, 1, TETHER_OP_SUBMIT);
	tp_w_bin(&g.w, big, TETHER_FRAME_MAX);
	cr_assert_eq(tp_gmsg_finish(&g), -EMSGSIZE);
	tp_gmsg_destroy(&g);
	free(big);
}

/* More iovecs than one sendmsg takes (IOV_MAX), to a socket and to a
 * pipe (writev): every byte arrives, in order. */
Test(codec, writev_all_beyond_iov_max)
{
	enum { N = 3000 };
	static struct iovec iov[N];
	static char src[N], got[N];

	for (int kind = 0; kind < 2; kind++) {
		int fd[2];
		size_t have = 0;

		if (kind == 0)
			cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM |
						SOCK_CLOEXEC, 0, fd), 0);
		else
			cr_assert_eq(pipe2(fd, O_CLOEXEC), 0);
		for (int i = 0; i < N; i++) {
			src[i] = (char)(i * 7 + kind);
			iov[i] = (struct iovec){ &src[i], 1 };
		}
		/* 3,000 bytes: both buffers hold them, nobody need read
		 * yet. */
		cr_assert_eq(tp_writev_all(fd[1], iov, N), 0);
		close(fd[1]);
		for (ssize_t n; (n = read(fd[0], got + have, N - have)) > 0;)
			have += (size_t)n;
		close(fd[0]);
		cr_assert_eq(have, N);
		cr_assert_eq(memcmp(got, src, N), 0, "kind %d", kind);
	}
}

/* ---- envelope errors ------------------------------------------------- */

Test(codec, decode_not_an_array_is_eproto)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct tp_in in;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_int(&pk, 5);
	cr_assert_eq(decode_packed(&sb, &in), -EPROTO);
	cr_assert_not(in.have_id);
	tp_in_destroy(&in);
	msgpack_sbuffer_destroy(&sb);
}

Test(codec, decode_empty_array_is_eproto)
{
	const unsigned char b[] = { 0x90 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	cr_assert_not(in.have_id);
	tp_in_destroy(&in);
}

Test(codec, decode_id_only_is_eproto_with_id)
{
	const unsigned char b[] = { 0x91, 0x2a };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	cr_assert(in.have_id);
	cr_assert_eq(in.id, 42);
	tp_in_destroy(&in);
}

Test(codec, decode_four_elements_is_eproto)
{
	const unsigned char b[] = { 0x94, 0x01, 0x02, 0xc0, 0xc0 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	cr_assert(in.have_id);
	tp_in_destroy(&in);
}

Test(codec, decode_negative_id_is_eproto)
{
	const unsigned char b[] = { 0x93, 0xff, 0x02, 0xc0 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	cr_assert_not(in.have_id);
	tp_in_destroy(&in);
}

Test(codec, decode_string_op_is_eproto)
{
	const unsigned char b[] = { 0x93, 0x01, 0xa1, 'x', 0xc0 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	cr_assert(in.have_id);
	cr_assert_eq(in.id, 1);
	tp_in_destroy(&in);
}

Test(codec, decode_op_beyond_int64_is_eproto)
{
	/* [1, 2^64-1, nil]: the op is no int64 */
	const unsigned char b[] = { 0x93, 0x01, 0xcf, 0xff, 0xff, 0xff, 0xff,
				    0xff, 0xff, 0xff, 0xff, 0xc0 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EPROTO);
	tp_in_destroy(&in);
}

Test(codec, decode_garbage_is_ebadmsg)
{
	const unsigned char b[] = { 0xc1 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EBADMSG);
	tp_in_destroy(&in);
}

Test(codec, decode_empty_payload_is_ebadmsg)
{
	struct tp_in in;

	cr_assert_eq(tp_decode((const unsigned char *)"", 0, &in), -EBADMSG);
	tp_in_destroy(&in);
}

/* ---- precheck -------------------------------------------------------- */

Test(precheck, accepts_every_plain_type)
{
	/* [nil, true, false, 1, -1, u8..u64, i8..i64, f32, f64, "ab",
	 *  str8, bin8, {1: 2}, []] */
	cr_assert_eq(precheck_bytes("dc0014"
				    "c0c3c2" "01" "ff"
				    "cc01" "cd0001" "ce00000001"
				    "cf0000000000000001"
				    "d0ff" "d1ffff" "d2ffffffff"
				    "d3ffffffffffffffff"
				    "ca00000000" "cb0000000000000000"
				    "a26162" "d9026162" "c4020102"
				    "810102" "90"),
		     0);
}

Test(precheck, array32_claiming_4g_elements)
{
	const unsigned char b[] = { 0xdd, 0xff, 0x00, 0x00, 0x00 };

	cr_assert_eq(tp_precheck(b, sizeof(b)), -EBADMSG);
}

Test(precheck, array32_all_ones)
{
	cr_assert_eq(precheck_bytes("ddffffffff"), -EBADMSG);
}

Test(precheck, map32_claiming_4g_pairs)
{
	cr_assert_eq(precheck_bytes("dfff000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("df80000000c0c0"), -EBADMSG);
}

Test(precheck, array16_and_map16_longer_than_input)
{
	cr_assert_eq(precheck_bytes("dc0003c0c0"), -EBADMSG);
	cr_assert_eq(precheck_bytes("de0002c0c0c0"), -EBADMSG);
	cr_assert_eq(precheck_bytes("de0001c0c0"), 0);
}

Test(precheck, fixarray_longer_than_input)
{
	cr_assert_eq(precheck_bytes("93c0c0"), -EBADMSG);
	cr_assert_eq(precheck_bytes("82c0c0c0"), -EBADMSG);
}

Test(precheck, truncated_str)
{
	cr_assert_eq(precheck_bytes("a56162"), -EBADMSG);
	cr_assert_eq(precheck_bytes("d9106162"), -EBADMSG);
	cr_assert_eq(precheck_bytes("da0100"), -EBADMSG);
	cr_assert_eq(precheck_bytes("dbffffffff"), -EBADMSG);
	cr_assert_eq(precheck_bytes("d9"), -EBADMSG);
}

Test(precheck, truncated_bin)
{
	cr_assert_eq(precheck_bytes("c40501"), -EBADMSG);
	cr_assert_eq(precheck_bytes("c5ffff01"), -EBADMSG);
	cr_assert_eq(precheck_bytes("c6ffffffff"), -EBADMSG);
	cr_assert_eq(precheck_bytes("c6000000"), -EBADMSG);
}

Test(precheck, truncated_numbers)
{
	cr_assert_eq(precheck_bytes("cd00"), -EBADMSG);
	cr_assert_eq(precheck_bytes("ce000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("cf00000000000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("cb000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("cc"), -EBADMSG);
}

/* n nested one-element arrays around a nil. */
static int nested(unsigned n)
{
	unsigned char b[64];

	cr_assert(n < sizeof(b));
	memset(b, 0x91, n);
	b[n] = 0xc0;
	return tp_precheck(b, n + 1);
}

Test(precheck, nesting_up_to_the_limit)
{
	cr_assert_eq(nested(TETHER_DEPTH_MAX), 0);
}

Test(precheck, nesting_beyond_the_limit)
{
	cr_assert_eq(nested(TETHER_DEPTH_MAX + 1), -EBADMSG);
	cr_assert_eq(nested(40), -EBADMSG);
}

Test(precheck, nesting_of_maps_counts_too)
{
	unsigned char b[64];
	unsigned n = 0;

	for (unsigned i = 0; i <= TETHER_DEPTH_MAX; i++) {
		b[n++] = 0x81;		/* {nil: ...} */
		b[n++] = 0xc0;
	}
	b[n++] = 0xc0;
	cr_assert_eq(tp_precheck(b, n), -EBADMSG);
}

Test(precheck, ext_types_refused)
{
	cr_assert_eq(precheck_bytes("d40100"), -EBADMSG);	/* fixext1 */
	cr_assert_eq(precheck_bytes("d5010000"), -EBADMSG);	/* fixext2 */
	cr_assert_eq(precheck_bytes("d601000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("d70100000000000000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("d8010000000000000000000000000000"
				    "0000"), -EBADMSG);
	cr_assert_eq(precheck_bytes("c7010100"), -EBADMSG);	/* ext8 */
	cr_assert_eq(precheck_bytes("c800010100"), -EBADMSG);	/* ext16 */
	cr_assert_eq(precheck_bytes("c90000000101"), -EBADMSG);	/* ext32 */
	/* inside a container too */
	cr_assert_eq(precheck_bytes("92c0d40100"), -EBADMSG);
}

Test(precheck, never_used_byte_c1)
{
	cr_assert_eq(precheck_bytes("c1"), -EBADMSG);
	cr_assert_eq(precheck_bytes("93c1c0c0"), -EBADMSG);
}

Test(precheck, trailing_bytes)
{
	cr_assert_eq(precheck_bytes("c0c0"), -EBADMSG);
	cr_assert_eq(precheck_bytes("9101" "00"), -EBADMSG);
}

Test(precheck, empty_input)
{
	cr_assert_eq(tp_precheck((const unsigned char *)"", 0), -EBADMSG);
}

Test(precheck, too_many_objects)
{
	/* array32 of TP_OBJS_MAX nils: one object more than allowed */
	size_t n = 5 + TP_OBJS_MAX;
	unsigned char *b = malloc(n);

	cr_assert_not_null(b);
	b[0] = 0xdd;
	b[1] = (unsigned char)(TP_OBJS_MAX >> 24);
	b[2] = (unsigned char)(TP_OBJS_MAX >> 16);
	b[3] = (unsigned char)(TP_OBJS_MAX >> 8);
	b[4] = (unsigned char)TP_OBJS_MAX;
	memset(b + 5, 0xc0, TP_OBJS_MAX);
	cr_assert_eq(tp_precheck(b, n), -EBADMSG);
	/* and one fewer fits */
	b[4] = (unsigned char)(TP_OBJS_MAX - 1);
	cr_assert_eq(tp_precheck(b, n - 1), 0);
	free(b);
}

Test(precheck, decode_rejects_what_precheck_rejects)
{
	const unsigned char b[] = { 0xdd, 0xff, 0x00, 0x00, 0x00 };
	struct tp_in in;

	cr_assert_eq(tp_decode(b, sizeof(b), &in), -EBADMSG);
	tp_in_destroy(&in);
}

/* ---- typed access ---------------------------------------------------- */

/* Decode the one msgpack value in sb into u. */
static const msgpack_object *one(msgpack_unpacked *u, msgpack_sbuffer *sb)
{
	size_t off = 0;

	msgpack_unpacked_init(u);
	cr_assert_eq(msgpack_unpack_next(u, sb->data, sb->size, &off),
		     MSGPACK_UNPACK_SUCCESS);
	return &u->data;
}

struct packed {
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
};

static msgpack_packer *pk_begin(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
	return &p->pk;
}

static void pk_end(struct packed *p)
{
	msgpack_unpacked_destroy(&p->u);
	msgpack_sbuffer_destroy(&p->sb);
}

Test(obj, u64_accepts_positive_only)
{
	struct packed p;
	const msgpack_object *o;
	uint64_t v = 0;

	msgpack_pack_uint64(pk_begin(&p), UINT64_MAX);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_u64(o, &v), 0);
	cr_assert_eq(v, UINT64_MAX);
	pk_end(&p);

	msgpack_pack_int64(pk_begin(&p), -1);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_u64(o, &v), -EINVAL);
	pk_end(&p);

	cr_assert_eq(tp_obj_u64(NULL, &v), -EINVAL);
}

Test(obj, i64_range)
{
	struct packed p;
	const msgpack_object *o;
	int64_t v = 0;

	msgpack_pack_int64(pk_begin(&p), INT64_MIN);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_i64(o, &v), 0);
	cr_assert_eq(v, INT64_MIN);
	pk_end(&p);

	msgpack_pack_uint64(pk_begin(&p), (uint64_t)INT64_MAX);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_i64(o, &v), 0);
	cr_assert_eq(v, INT64_MAX);
	pk_end(&p);

	msgpack_pack_uint64(pk_begin(&p), (uint64_t)INT64_MAX + 1);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_i64(o, &v), -EINVAL);
	pk_end(&p);

	msgpack_pack_double(pk_begin(&p), 1.5);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_i64(o, &v), -EINVAL);
	pk_end(&p);

	cr_assert_eq(tp_obj_i64(NULL, &v), -EINVAL);
}

Test(obj, reg_sign_extends_negatives)
{
	struct packed p;
	const msgpack_object *o;
	uint64_t v = 0;

	msgpack_pack_int(pk_begin(&p), -100);	/* AT_FDCWD */
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_reg(o, &v), 0);
	cr_assert_eq(v, (uint64_t)-100);
	pk_end(&p);

	msgpack_pack_uint64(pk_begin(&p), 0xffffffffffffffffULL);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_reg(o, &v), 0);
	cr_assert_eq(v, 0xffffffffffffffffULL);
	pk_end(&p);

	msgpack_pack_nil(pk_begin(&p));
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_reg(o, &v), -EINVAL);
	pk_end(&p);

	cr_assert_eq(tp_obj_reg(NULL, &v), -EINVAL);
}

Test(obj, str_and_bin_are_distinct)
{
	struct packed p;
	const msgpack_object *o;
	const char *s;
	const void *b;
	size_t n;

	tp_pack_str(pk_begin(&p), "hello");
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_str(o, &s, &n), 0);
	cr_assert_eq(n, 5);
	cr_assert_eq(memcmp(s, "hello", 5), 0);
	cr_assert_eq(tp_obj_bin(o, &b, &n), -EINVAL);
	pk_end(&p);

	msgpack_pack_bin(pk_begin(&p), 3);
	msgpack_pack_bin_body(&p.pk, "\0\1\2", 3);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_bin(o, &b, &n), 0);
	cr_assert_eq(n, 3);
	cr_assert_eq(memcmp(b, "\0\1\2", 3), 0);
	cr_assert_eq(tp_obj_str(o, &s, &n), -EINVAL);
	pk_end(&p);

	cr_assert_eq(tp_obj_str(NULL, &s, &n), -EINVAL);
	cr_assert_eq(tp_obj_bin(NULL, &b, &n), -EINVAL);
}

Test(obj, array_access)
{
	struct packed p;
	const msgpack_object *o, *a;
	size_t n = 99;

	msgpack_pack_array(pk_begin(&p), 0);
	o = one(&p.u, &p.sb);
	a = tp_obj_array(o, &n);
	cr_assert_not_null(a, "an empty array is still an array");
	cr_assert_eq(n, 0);
	pk_end(&p);

	msgpack_pack_array(pk_begin(&p), 2);
	msgpack_pack_int(&p.pk, 1);
	msgpack_pack_int(&p.pk, 2);
	o = one(&p.u, &p.sb);
	a = tp_obj_array(o, &n);
	cr_assert_not_null(a);
	cr_assert_eq(n, 2);
	cr_assert_eq(a[1].via.u64, 2);
	pk_end(&p);

	msgpack_pack_map(pk_begin(&p), 0);
	o = one(&p.u, &p.sb);
	cr_assert_null(tp_obj_array(o, &n));
	pk_end(&p);

	cr_assert_null(tp_obj_array(NULL, &n));
}

Test(obj, map_get)
{
	struct packed p;
	const msgpack_object *o;
	int64_t v;

	msgpack_pack_map(pk_begin(&p), 4);
	msgpack_pack_int(&p.pk, 1);		/* non-str key: skipped */
	msgpack_pack_int(&p.pk, 10);
	tp_pack_kv_int(&p.pk, "pid", 77);
	tp_pack_kv_int(&p.pk, "pidx", 78);
	tp_pack_kv_int(&p.pk, "", 79);
	o = one(&p.u, &p.sb);
	cr_assert_eq(tp_obj_i64(tp_map_get(o, "pid"), &v), 0);
	cr_assert_eq(v, 77);
	cr_assert_eq(tp_obj_i64(tp_map_get(o, "pidx"), &v), 0);
	cr_assert_eq(v, 78);
	cr_assert_eq(tp_obj_i64(tp_map_get(o, ""), &v), 0);
	cr_assert_eq(v, 79);
	cr_assert_null(tp_map_get(o, "pi"));
	cr_assert_null(tp_map_get(o, "missing"));
	pk_end(&p);

	msgpack_pack_array(pk_begin(&p), 0);
	o = one(&p.u, &p.sb);
	cr_assert_null(tp_map_get(o, "pid"));
	pk_end(&p);

	cr_assert_null(tp_map_get(NULL, "pid"));
}

/* ---- framing --------------------------------------------------------- */

struct rb_fixture {
	int fd[2];			/* [0] read end (non-blocking) */
	struct tp_rbuf rb;
};

static struct rb_fixture rf;

static void rb_init(void)
{
	memset(&rf, 0, sizeof(rf));
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
				rf.fd), 0);
	cr_assert_eq(fcntl(rf.fd[0], F_SETFL, O_NONBLOCK), 0);
}

static void rb_fini(void)
{
	tp_rbuf_free(&rf.rb);
	close(rf.fd[0]);
	if (rf.fd[1] >= 0)
		close(rf.fd[1]);
}

static void put(const void *p, size_t n)
{
	cr_assert_eq(tp_write_all(rf.fd[1], p, n), 0);
}

/* A frame [id, 2, nil] and its bytes. */
static size_t small_frame(unsigned char *b, unsigned id)
{
	b[0] = b[1] = b[2] = 0;
	b[3] = 4;
	b[4] = 0x93;
	b[5] = (unsigned char)id;	/* positive fixint, id < 128 */
	b[6] = 0x02;
	b[7] = 0xc0;
	return 8;
}

/* Fill until a frame is there (the data is already in the socket). */
static int next_frame(const unsigned char **p, size_t *len)
{
	int rc;

	while ((rc = tp_rbuf_frame(&rf.rb, p, len)) == 0) {
		ssize_t n = tp_rbuf_fill(&rf.rb, rf.fd[0]);

		if (n <= 0)
			return (int)n;
	}
	return rc;
}

Test(rbuf, partial_frame_waits, .init = rb_init, .fini = rb_fini)
{
	unsigned char b[8];
	const unsigned char *p;
	size_t len, n = small_frame(b, 1);

	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 0,
			     "whole frame after %zu of %zu bytes", i, n);
		put(b + i, 1);
		cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), 1);
	}
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 1);
	cr_assert_eq(len, 4);
	cr_assert_eq(memcmp(p, b + 4, 4), 0);
	tp_rbuf_consume(&rf.rb, len);
	cr_assert_eq(rf.rb.len, 0);
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 0);
}

Test(rbuf, several_frames_in_one_read, .init = rb_init, .fini = rb_fini)
{
	unsigned char b[8 * 5];
	const unsigned char *p;
	size_t len, n = 0;
	struct tp_in in;

	for (unsigned i = 0; i < 5; i++)
		n += small_frame(b + n, i + 1);
	put(b, n);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), (ssize_t)n);
	for (unsigned i = 0; i < 5; i++) {
		cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 1);
		cr_assert_eq(tp_decode(p, len, &in), 0);
		cr_assert_eq(in.id, i + 1);
		tp_in_destroy(&in);
		tp_rbuf_consume(&rf.rb, len);
	}
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 0);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), -EAGAIN);
}

Test(rbuf, header_over_limit_is_emsgsize, .init = rb_init, .fini = rb_fini)
{
	uint32_t big = TETHER_FRAME_MAX + 1;
	unsigned char h[4] = { (unsigned char)(big >> 24),
			       (unsigned char)(big >> 16),
			       (unsigned char)(big >> 8), (unsigned char)big };
	const unsigned char *p;
	size_t len;

	put(h, 4);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), 4);
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), -EMSGSIZE);
	/* and filling more refuses to grow for it */
	put("x", 1);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), -EMSGSIZE);
	cr_assert_leq(rf.rb.cap, 65536);
}

Test(rbuf, header_4g_is_emsgsize, .init = rb_init, .fini = rb_fini)
{
	const unsigned char h[4] = { 0xff, 0xff, 0xff, 0xff };
	const unsigned char *p;
	size_t len;

	put(h, 4);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), 4);
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), -EMSGSIZE);
}

Test(rbuf, frame_at_limit_is_whole, .init = rb_init, .fini = rb_fini)
{
	uint32_t n = TETHER_FRAME_MAX;
	unsigned char h[4] = { (unsigned char)(n >> 24),
			       (unsigned char)(n >> 16),
			       (unsigned char)(n >> 8), (unsigned char)n };
	unsigned char *body = calloc(1, n);
	const unsigned char *p;
	size_t len;
	pid_t pid;

	cr_assert_not_null(body);
	body[n - 1] = 0x5a;
	/* A writer process: the socket holds less than a frame. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(rf.fd[0]);
		tp_write_all(rf.fd[1], h, 4);
		tp_write_all(rf.fd[1], body, n);
		_exit(0);
	}
	close(rf.fd[1]);
	rf.fd[1] = -1;
	cr_assert_eq(fcntl(rf.fd[0], F_SETFL, 0), 0);
	cr_assert_eq(next_frame(&p, &len), 1);
	cr_assert_eq(len, n);
	cr_assert_eq(p[n - 1], 0x5a);
	tp_rbuf_consume(&rf.rb, len);
	cr_assert_eq(next_frame(&p, &len), 0, "EOF after the frame");
	free(body);
	waitpid(pid, NULL, 0);
}

Test(rbuf, large_frame_then_small, .init = rb_init,
     .fini = rb_fini)
{
	/* A 512 KiB frame grows the buffer; the small frames behind it must
	 * be intact.  The memory stays while another large frame may follow
	 * (no page faulted in afresh for each), and goes back after 16
	 * small ones. */
	enum { NSMALL = 16 };
	size_t big = 512 * 1024;
	unsigned char *b = calloc(1, 4 + big + 8 * NSMALL);
	const unsigned char *p;
	size_t len;
	struct tp_in in;
	pid_t pid;

	cr_assert_not_null(b);
	b[1] = (unsigned char)(big >> 16);
	b[2] = (unsigned char)(big >> 8);
	b[3] = (unsigned char)big;
	for (int i = 0; i < NSMALL; i++)
		small_frame(b + 4 + big + 8 * i, 33 + i);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		close(rf.fd[0]);
		tp_write_all(rf.fd[1], b, 4 + big + 8 * NSMALL);
		_exit(0);
	}
	close(rf.fd[1]);
	rf.fd[1] = -1;
	cr_assert_eq(fcntl(rf.fd[0], F_SETFL, 0), 0);
	cr_assert_eq(next_frame(&p, &len), 1);
	cr_assert_eq(len, big);
	tp_rbuf_consume(&rf.rb, len);
	for (int i = 0; i < NSMALL; i++) {
		cr_assert_eq(next_frame(&p, &len), 1);
		cr_assert_eq(len, 4);
		cr_assert_eq(tp_decode(p, len, &in), 0);
		cr_assert_eq(in.id, 33 + (uint64_t)i);
		tp_in_destroy(&in);
		tp_rbuf_consume(&rf.rb, len);
		if (i == 0)
			cr_assert_gt(rf.rb.cap, 4u * 65536, "buffer kept");
	}
	cr_assert_leq(rf.rb.cap, 4u * 65536, "buffer given back");
	free(b);
	waitpid(pid, NULL, 0);
}

Test(rbuf, full_buffer_of_frames_is_enobufs, .init = rb_init,
     .fini = rb_fini)
{
	/* 65536 bytes of 8-byte frames fill the first chunk exactly. */
	size_t total = 65536, n = 0;
	unsigned char *b = malloc(total);
	const unsigned char *p;
	size_t len;
	ssize_t got;

	cr_assert_not_null(b);
	while (n < total)
		n += small_frame(b + n, 1);
	put(b, total);
	put(b, 8);		/* one more frame waiting in the socket */
	while (rf.rb.len < total) {
		got = tp_rbuf_fill(&rf.rb, rf.fd[0]);
		cr_assert_gt(got, 0);
	}
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), -ENOBUFS);
	cr_assert_eq(tp_rbuf_frame(&rf.rb, &p, &len), 1);
	tp_rbuf_consume(&rf.rb, len);
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), 8);
	free(b);
}

Test(rbuf, eof_is_zero, .init = rb_init, .fini = rb_fini)
{
	close(rf.fd[1]);
	rf.fd[1] = -1;
	cr_assert_eq(tp_rbuf_fill(&rf.rb, rf.fd[0]), 0);
}

Test(rbuf, bad_fd_is_ebadf)
{
	struct tp_rbuf rb = { 0 };

	cr_assert_eq(tp_rbuf_fill(&rb, -1), -EBADF);
	tp_rbuf_free(&rb);
}

/* ---- whole-buffer I/O -------------------------------------------------- */

Test(io, write_all_and_read_all_on_a_pipe)
{
	int p[2];
	char buf[6];

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_eq(tp_write_all(p[1], "hello!", 6), 0);
	cr_assert_eq(tp_read_all(p[0], buf, 6), 0);
	cr_assert_eq(memcmp(buf, "hello!", 6), 0);
	close(p[1]);
	cr_assert_eq(tp_read_all(p[0], buf, 1), -ECONNRESET);
	close(p[0]);
}

Test(io, write_all_to_closed_peer_is_epipe)
{
	int s[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
	close(s[1]);
	cr_assert_eq(tp_write_all(s[0], "x", 1), -EPIPE);
	close(s[0]);
}

/* ---- default socket path --------------------------------------------- */

Test(paths, env_wins)
{
	char buf[128];

	setenv("TETHER_SOCKET", "/tmp/foo/bar.sock", 1);
	cr_assert_eq(tp_default_socket_path(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/tmp/foo/bar.sock");
}

Test(paths, xdg_runtime_dir)
{
	char buf[128];

	unsetenv("TETHER_SOCKET");
	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	cr_assert_eq(tp_default_socket_path(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/run/user/4242/tether/tetherd.sock");
}

Test(paths, relative_xdg_ignored)
{
	char buf[128];

	unsetenv("TETHER_SOCKET");
	setenv("XDG_RUNTIME_DIR", "relative", 1);
	cr_assert_eq(tp_default_socket_path(buf, sizeof(buf)), 0);
	cr_assert_eq(buf[0], '/');
	cr_assert_null(strstr(buf, "relative"));
}

Test(paths, too_small_buffer)
{
	char buf[8];

	setenv("TETHER_SOCKET", "/tmp/foo/bar.sock", 1);
	cr_assert_eq(tp_default_socket_path(buf, sizeof(buf)), -ENAMETOOLONG);
}
