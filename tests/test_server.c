/*
 * tetherd as a process: bad input on its sockets, handshakes, peers,
 * controllers that die, signals.  Real processes, real sockets.  Every
 * test that feeds the server garbage checks afterwards that it still
 * serves and holds exactly the fds it held before (its /proc/PID/fd,
 * never ours: Criterion's workers hold fds of their own).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arch.h"
#include "kit.h"
#include "messages.h"

/* fds the server held when the test began, with fx.t attached. */
static int base_fds;

/* Our raw connection to the server's syscall socket. */
static struct {
	int fd;
	struct tp_rbuf rb;
} raw = { .fd = -1 };

/* The server's fd count once it is idle: after a round trip, nothing
 * of an earlier handshake is left, and it must agree with what the
 * server itself reports. */
static int settled_fds(void)
{
	struct tether_status st;
	int n;

	cr_assert_eq(tether_status(fx.t, &st), 0, "status: %s",
		     tether_last_error(fx.t));
	n = fx_wait_fds(fx.pid, (int)(st.nfds + st.ninternal));
	cr_assert_eq(n, (int)(st.nfds + st.ninternal),
		     "/proc says %d fds, the server %u + %u internal", n,
		     st.nfds, st.ninternal);
	return n;
}

static void srv_init(void)
{
	fx_init_server();
	base_fds = settled_fds();
}

static void srv_fini(void)
{
	if (raw.fd >= 0)
		close(raw.fd);
	raw.fd = -1;
	tp_rbuf_free(&raw.rb);
	fx_fini();
}

TestSuite(badinput, .init = srv_init, .fini = srv_fini, .timeout = 30);
TestSuite(handshake, .init = srv_init, .fini = srv_fini, .timeout = 30);
TestSuite(peers, .init = srv_init, .fini = srv_fini, .timeout = 30);
TestSuite(uid, .init = fx_init_dir, .fini = srv_fini, .timeout = 30);
TestSuite(life, .init = fx_init_dir, .fini = srv_fini, .timeout = 40);

/* The server answers fx.t and holds base_fds again. */
static void intact(void)
{
	int n;

	cr_assert_eq(fx_getpid(fx.t), fx.pid, "server not serving: %s",
		     tether_last_error(fx.t));
	n = fx_wait_fds(fx.pid, base_fds);
	cr_assert_eq(n, base_fds, "server holds %d fds, %d before", n,
		     base_fds);
}

/* ---- raw syscall-socket helpers -------------------------------------- */

/* Take the controller's place with a raw connection. */
static void raw_open(void)
{
	int rc = fx_attach_raw(fx.sock, TETHER_HELLO_TAKEOVER, &raw.fd, NULL);

	cr_assert_eq(rc, 0, "raw attach: %s", strerror(-rc));
}

/* Drop the raw connection, attach fx.t again, check the server. */
static void raw_close_intact(void)
{
	int rc;

	close(raw.fd);
	raw.fd = -1;
	rc = fx_reattach();
	cr_assert_eq(rc, 0, "reattach: %s (%s)", strerror(-rc),
		     tether_last_error(NULL));
	intact();
}

static void raw_send_hex(const char *hex)
{
	unsigned char buf[512];
	size_t n = 0;

	for (; hex[0] && hex[1]; hex += 2) {
		unsigned v;

		cr_assert(n < sizeof(buf));
		cr_assert_eq(sscanf(hex, "%2x", &v), 1);
		buf[n++] = (unsigned char)v;
	}
	cr_assert_eq(fx_send_payload(raw.fd, buf, n), 0);
}

static void raw_send(struct tp_msg *m)
{
	cr_assert_eq(fx_send_msg(raw.fd, m), 0);
	tp_msg_destroy(m);
}

/* The next frame must be [id, err, "...needle..."]. */
static void raw_expect(uint64_t id, int err, const char *needle)
{
	struct fx_frame f;
	char text[512];
	int rc = fx_recv_frame(raw.fd, &raw.rb, &f);

	cr_assert_eq(rc, 0, "no reply: %s", strerror(-rc));
	cr_assert_eq(f.rc, 0, "reply does not decode");
	cr_assert_eq(f.in.id, id, "reply id %llu, want %llu",
		     (unsigned long long)f.in.id, (unsigned long long)id);
	cr_assert_eq(f.in.code, err, "reply err %lld (%s), want %d (%s)",
		     (long long)f.in.code, fx_frame_text(&f, text, sizeof(text)),
		     err, strerror(err));
	if (needle)
		cr_assert(strstr(fx_frame_text(&f, text, sizeof(text)), needle),
			  "text '%s' lacks '%s'", text, needle);
	fx_frame_free(&f);
}

/* A STATUS round trip on the raw connection. */
static void raw_status_ok(uint64_t id)
{
	struct tp_msg m;

	tp_msg_init(&m);
	tp_msg_request(&m, id, TETHER_OP_STATUS);
	msgpack_pack_array(&m.pk, 0);
	raw_send(&m);
	raw_expect(id, 0, NULL);
}

/* SYSCALL [nr, [<one arg packed by the caller>]]: starts the message. */
static void syscall_one_arg(struct tp_msg *m, uint64_t id, long nr)
{
	tp_msg_init(m);
	tp_msg_request(m, id, TETHER_OP_SYSCALL);
	msgpack_pack_array(&m->pk, 2);
	msgpack_pack_int64(&m->pk, nr);
	msgpack_pack_array(&m->pk, 1);
}

/* ---- bad input on the syscall socket ------------------------------------ */

Test(badinput, unknown_op_is_eopnotsupp)
{
	struct tp_msg m;

	raw_open();
	tp_msg_init(&m);
	tp_msg_request(&m, 5, 99);
	msgpack_pack_array(&m.pk, 0);
	raw_send(&m);
	raw_expect(5, EOPNOTSUPP, "unknown op");
	raw_status_ok(6);
	raw_close_intact();
}

Test(badinput, op_zero_is_eopnotsupp)
{
	raw_open();
	raw_send_hex("930700c0");		/* [7, 0, nil] */
	raw_expect(7, EOPNOTSUPP, NULL);
	raw_status_ok(8);
	raw_close_intact();
}

Test(badinput, negative_op_is_eopnotsupp)
{
	raw_open();
	raw_send_hex("9307ffc0");		/* [7, -1, nil] */
	raw_expect(7, EOPNOTSUPP, NULL);
	raw_close_intact();
}

Test(badinput, hello_on_syscall_socket_is_eproto)
{
	struct tp_msg m;

	raw_open();
	tp_msg_init(&m);
	tp_msg_request(&m, 9, TETHER_OP_HELLO);
	msgpack_pack_array(&m.pk, 3);
	msgpack_pack_int(&m.pk, TETHER_PROTO_VERSION);
	msgpack_pack_int(&m.pk, 0);
	msgpack_pack_int(&m.pk, getpid());
	raw_send(&m);
	raw_expect(9, EPROTO, "listening socket");
	raw_close_intact();
}

Test(badinput, float_argument_is_einval)
{
	struct tp_msg m;

	raw_open();
	syscall_one_arg(&m, 11, SYS_getpid);
	msgpack_pack_double(&m.pk, 1.5);
	raw_send(&m);
	raw_expect(11, EINVAL, "argument 0");
	raw_status_ok(12);
	raw_close_intact();
}

Test(badinput, map_argument_is_einval)
{
	struct tp_msg m;

	raw_open();
	syscall_one_arg(&m, 13, SYS_getpid);
	msgpack_pack_map(&m.pk, 1);
	tp_pack_kv_int(&m.pk, "x", 1);
	raw_send(&m);
	raw_expect(13, EINVAL, "argument 0");
	raw_close_intact();
}

Test(badinput, nil_and_bool_arguments_are_einval)
{
	struct tp_msg m;

	raw_open();
	syscall_one_arg(&m, 14, SYS_getpid);
	msgpack_pack_nil(&m.pk);
	raw_send(&m);
	raw_expect(14, EINVAL, NULL);
	syscall_one_arg(&m, 15, SYS_getpid);
	msgpack_pack_true(&m.pk);
	raw_send(&m);
	raw_expect(15, EINVAL, NULL);
	raw_close_intact();
}

Test(badinput, bad_tagged_arguments_are_einval)
{
	struct tp_msg m;

	raw_open();
	syscall_one_arg(&m, 16, SYS_getpid);	/* [9, 1]: unknown tag */
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_int(&m.pk, 9);
	msgpack_pack_int(&m.pk, 1);
	raw_send(&m);
	raw_expect(16, EINVAL, NULL);
	syscall_one_arg(&m, 17, SYS_getpid);	/* [1]: no size */
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
	raw_send(&m);
	raw_expect(17, EINVAL, NULL);
	syscall_one_arg(&m, 18, SYS_getpid);	/* []: empty */
	msgpack_pack_array(&m.pk, 0);
	raw_send(&m);
	raw_expect(18, EINVAL, NULL);
	syscall_one_arg(&m, 19, SYS_getpid);	/* [1, "x"] */
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
	tp_pack_str(&m.pk, "x");
	raw_send(&m);
	raw_expect(19, EINVAL, NULL);
	syscall_one_arg(&m, 20, SYS_getpid);	/* [2, bin 8, 4]: in > cap */
	msgpack_pack_array(&m.pk, 3);
	msgpack_pack_int(&m.pk, TETHER_ARGTAG_INOUT);
	msgpack_pack_bin(&m.pk, 8);
	msgpack_pack_bin_body(&m.pk, "12345678", 8);
	msgpack_pack_int(&m.pk, 4);
	raw_send(&m);
	raw_expect(20, EINVAL, NULL);
	syscall_one_arg(&m, 21, SYS_getpid);	/* [1, -5]: negative size */
	msgpack_pack_array(&m.pk, 2);
	msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
	msgpack_pack_int(&m.pk, -5);
	raw_send(&m);
	raw_expect(21, EINVAL, NULL);
	raw_status_ok(22);
	raw_close_intact();
}

Test(badinput, string_with_nul_is_einval)
{
	struct tp_msg m;

	raw_open();
	syscall_one_arg(&m, 23, SYS_getpid);
	msgpack_pack_str(&m.pk, 3);
	msgpack_pack_str_body(&m.pk, "a\0b", 3);
	raw_send(&m);
	raw_expect(23, EINVAL, "NUL");
	raw_close_intact();
}

Test(badinput, syscall_body_shapes_are_eproto)
{
	raw_open();
	raw_send_hex("931802c0");		/* body nil */
	raw_expect(24, EPROTO, NULL);
	raw_send_hex("9319029127");		/* [39]: no args */
	raw_expect(25, EPROTO, NULL);
	raw_send_hex("931a029227c0");		/* [39, nil] */
	raw_expect(26, EPROTO, NULL);
	raw_send_hex("931b02932790a178");	/* [39, [], "x"] */
	raw_expect(27, EPROTO, NULL);
	raw_send_hex("931c029427909090");	/* 4 elements */
	raw_expect(28, EPROTO, NULL);
	raw_send_hex("931d0292a17890");		/* ["x", []] */
	raw_expect(29, EINVAL, "syscall number");
	raw_status_ok(30);
	raw_close_intact();
}

Test(badinput, seven_arguments_is_e2big)
{
	raw_open();
	raw_send_hex("931f02922797" "00000000000000");
	raw_expect(31, E2BIG, NULL);
	raw_close_intact();
}

Test(badinput, id_only_envelope_is_eproto)
{
	raw_open();
	raw_send_hex("912a");			/* [42] */
	raw_expect(42, EPROTO, "expected [id, op, body]");
	raw_status_ok(43);
	raw_close_intact();
}

Test(badinput, non_array_and_empty_envelopes_are_eproto)
{
	raw_open();
	raw_send_hex("05");			/* 5 */
	raw_expect(0, EPROTO, NULL);
	raw_send_hex("90");			/* [] */
	raw_expect(0, EPROTO, NULL);
	raw_send_hex("93a169" "04c0");		/* ["i", 4, nil] */
	raw_expect(0, EPROTO, NULL);
	raw_send_hex("942c04c0c0");		/* [44, 4, nil, nil] */
	raw_expect(44, EPROTO, NULL);
	raw_status_ok(45);
	raw_close_intact();
}

Test(badinput, pipelined_requests_answered_in_order)
{
	unsigned char buf[64];
	size_t n = 0;

	raw_open();
	/* three STATUS requests in one write */
	for (unsigned id = 50; id < 53; id++) {
		const unsigned char f[] = { 0, 0, 0, 4, 0x93, (unsigned char)id,
					    TETHER_OP_STATUS, 0x90 };

		memcpy(buf + n, f, sizeof(f));
		n += sizeof(f);
	}
	cr_assert_eq(fx_send_bytes(raw.fd, buf, n), 0);
	for (unsigned id = 50; id < 53; id++)
		raw_expect(id, 0, NULL);
	raw_close_intact();
}

Test(badinput, oversized_frame_is_skipped)
{
	/* A header announcing TETHER_FRAME_MAX + 1 bytes, that many bytes
	 * of junk, then a valid request, all in one stream. */
	size_t junk = TETHER_FRAME_MAX + 1;
	const unsigned char status[] = { 0, 0, 0, 4, 0x93, 0x3c,
					 TETHER_OP_STATUS, 0x90 };
	unsigned char *buf = malloc(4 + junk + sizeof(status));

	cr_assert_not_null(buf);
	buf[0] = (unsigned char)(junk >> 24);
	buf[1] = (unsigned char)(junk >> 16);
	buf[2] = (unsigned char)(junk >> 8);
	buf[3] = (unsigned char)junk;
	memset(buf + 4, 0xc1, junk);
	memcpy(buf + 4 + junk, status, sizeof(status));
	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, buf, 4 + junk + sizeof(status)), 0);
	free(buf);
	raw_expect(0, E2BIG, "exceeds");
	raw_expect(0x3c, 0, NULL);
	raw_status_ok(0x3d);
	raw_close_intact();
}

Test(badinput, oversized_frame_sent_slowly_is_skipped)
{
	/* The header alone first, the junk in pieces later. */
	size_t junk = TETHER_FRAME_MAX + 1, sent = 0;
	unsigned char h[4] = { (unsigned char)(junk >> 24),
			       (unsigned char)(junk >> 16),
			       (unsigned char)(junk >> 8), (unsigned char)junk };
	unsigned char *chunk = calloc(1, 300000);

	cr_assert_not_null(chunk);
	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, h, 4), 0);
	raw_expect(0, E2BIG, NULL);
	while (sent < junk) {
		size_t n = junk - sent < 300000 ? junk - sent : 300000;

		cr_assert_eq(fx_send_bytes(raw.fd, chunk, n), 0);
		sent += n;
	}
	free(chunk);
	raw_status_ok(0x3e);
	raw_close_intact();
}

Test(badinput, header_of_4g_gets_a_notice)
{
	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, "\xff\xff\xff\xff", 4), 0);
	raw_expect(0, E2BIG, NULL);
	raw_close_intact();
}

Test(badinput, unparseable_msgpack_closes_only_that_connection)
{
	raw_open();
	raw_send_hex("c1");
	cr_assert(fx_wait_eof(raw.fd), "server kept the connection");
	raw_close_intact();
}

Test(badinput, array32_bomb_closes_the_connection)
{
	raw_open();
	raw_send_hex("ddff000000");
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

Test(badinput, map32_bomb_closes_the_connection)
{
	raw_open();
	raw_send_hex("dfffffffff");
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

Test(badinput, deep_nesting_closes_the_connection)
{
	raw_open();
	raw_send_hex("93010291919191919191919191c0");
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

Test(badinput, ext_type_closes_the_connection)
{
	raw_open();
	raw_send_hex("930104d40100");
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

Test(badinput, trailing_bytes_close_the_connection)
{
	raw_open();
	raw_send_hex("93010490c0");
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

Test(badinput, empty_frame_closes_the_connection)
{
	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, "\0\0\0\0", 4), 0);
	cr_assert(fx_wait_eof(raw.fd));
	raw_close_intact();
}

/* A partial frame followed at once by EOF.
 * KNOWN BUG (server, conn.c): td_conn_pump() returns after a short read
 * ("drained") without reading again; an EOF that arrived with the data
 * in the same poll wakeup is never seen, no further wakeup comes, and
 * the dead peer keeps the controller slot: every later attach gets
 * EBUSY ("attached by pid N").  The same happens when data and EOF
 * arrive while the server is not reading (reply queue over its limit). */
Test(badinput, peer_gone_mid_frame,
     .description = "KNOWN BUG: EOF after a short read never noticed")
{
	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, "\0\0\0\x64\x93\x01", 6), 0);
	raw_close_intact();
}

Test(badinput, good_request_after_bad_ones_in_one_write)
{
	/* EPROTO, EOPNOTSUPP, then STATUS, back to back */
	const unsigned char b[] = { 0, 0, 0, 2, 0x91, 0x46,
				    0, 0, 0, 4, 0x93, 0x47, 0x63, 0x90,
				    0, 0, 0, 4, 0x93, 0x48, 0x04, 0x90 };

	raw_open();
	cr_assert_eq(fx_send_bytes(raw.fd, b, sizeof(b)), 0);
	raw_expect(0x46, EPROTO, NULL);
	raw_expect(0x47, EOPNOTSUPP, NULL);
	raw_expect(0x48, 0, NULL);
	raw_close_intact();
}

Test(badinput, frame_at_the_limit_is_parsed)
{
	/* exactly TETHER_FRAME_MAX payload bytes: a frame, not an
	 * oversized one; its 2 MiB in-buffer breaks the per-call limit */
	size_t n = TETHER_FRAME_MAX - 11;
	char *junk = calloc(1, n);
	struct tp_msg m;

	cr_assert_not_null(junk);
	raw_open();
	syscall_one_arg(&m, 0x40, SYS_write);
	msgpack_pack_bin(&m.pk, n);
	msgpack_pack_bin_body(&m.pk, junk, n);
	cr_assert_eq(tp_msg_finish(&m), 0);
	cr_assert_eq(tp_msg_size(&m), TETHER_FRAME_HDR + TETHER_FRAME_MAX);
	raw_send(&m);
	free(junk);
	raw_expect(0x40, E2BIG, NULL);
	raw_status_ok(0x41);
	raw_close_intact();
}

Test(badinput, backpressure_resumes_when_the_peer_reads)
{
	/* Eight 1 MiB replies queued before we read any: the server stops
	 * reading past its queue limit and must resume as we drain. */
	struct tp_msg m;

	raw_open();
	for (unsigned id = 1; id <= 8; id++) {
		syscall_one_arg(&m, id, SYS_uname);
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
		msgpack_pack_uint64(&m.pk, TETHER_BUF_MAX);
		raw_send(&m);
	}
	for (unsigned id = 1; id <= 8; id++)
		raw_expect(id, 0, NULL);
	raw_status_ok(9);
	raw_close_intact();
}

/* ---- handshakes ------------------------------------------------------ */

/* Send a HELLO of version/flags carrying fds; return the answer. */
static int hello_with(uint64_t version, uint64_t flags, const int *fds,
		      unsigned nfds, char *text, size_t size)
{
	struct tp_msg m;
	int rc;

	fx_hello_msg(&m, version, flags);
	rc = fx_handshake(fx.sock, tp_msg_data(&m), tp_msg_size(&m), fds, nfds,
			  text, size);
	tp_msg_destroy(&m);
	return rc;
}

/* n fresh stream socket pairs: ours in mine[], theirs in theirs[]. */
static void stream_pairs(unsigned n, int *mine, int *theirs)
{
	for (unsigned i = 0; i < n; i++) {
		int sp[2];

		cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
					sp), 0);
		mine[i] = sp[0];
		theirs[i] = sp[1];
	}
}

static void close_all(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* The server gave up our sockets: their peers see EOF. */
static void peers_closed(const int *mine, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		cr_assert(fx_wait_eof(mine[i]), "server kept passed fd %u", i);
}

Test(handshake, wrong_version_is_eprotonosupport)
{
	int mine[2], theirs[2];
	char text[256];

	stream_pairs(2, mine, theirs);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION + 98, 0, theirs, 2, text,
				sizeof(text)),
		     EPROTONOSUPPORT);
	cr_assert(strstr(text, "version 99"), "'%s'", text);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, zero_fds_is_einval)
{
	char text[256];

	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, NULL, 0, text,
				sizeof(text)),
		     EINVAL);
	cr_assert(strstr(text, "got 0"), "'%s'", text);
	intact();
}

Test(handshake, one_fd_is_einval)
{
	int mine[1], theirs[1];
	char text[256];

	stream_pairs(1, mine, theirs);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, theirs, 1, text,
				sizeof(text)),
		     EINVAL);
	cr_assert(strstr(text, "got 1"), "'%s'", text);
	close_all(theirs, 1);
	peers_closed(mine, 1);
	close_all(mine, 1);
	intact();
}

Test(handshake, three_fds_is_einval)
{
	int mine[3], theirs[3];
	char text[256];

	stream_pairs(3, mine, theirs);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, theirs, 3, text,
				sizeof(text)),
		     EINVAL);
	cr_assert(strstr(text, "got 3"), "'%s'", text);
	close_all(theirs, 3);
	peers_closed(mine, 3);
	close_all(mine, 3);
	intact();
}

Test(handshake, regular_files_are_enotsock)
{
	char path[128], text[256];
	int fds[2];

	fx_path(path, sizeof(path), "plain.txt");
	fx_write_file(path, "x", 1);
	fds[0] = open(path, O_RDONLY | O_CLOEXEC);
	fds[1] = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, fds, 2, text,
				sizeof(text)),
		     ENOTSOCK);
	cr_assert(strstr(text, "not a socket"), "'%s'", text);
	close_all(fds, 2);
	intact();
}

Test(handshake, socket_and_file_is_enotsock)
{
	char path[128], text[256];
	int mine[1], fds[2];

	stream_pairs(1, mine, fds);
	fx_path(path, sizeof(path), "plain.txt");
	fx_write_file(path, "x", 1);
	fds[1] = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, fds, 2, text,
				sizeof(text)),
		     ENOTSOCK);
	cr_assert(strstr(text, "fd 1"), "'%s'", text);
	close_all(fds, 2);
	peers_closed(mine, 1);
	close_all(mine, 1);
	intact();
}

Test(handshake, dgram_sockets_are_eprototype)
{
	int a[2], b[2], fds[2];
	char text[256];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, a), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, b), 0);
	fds[0] = a[1];
	fds[1] = b[1];
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, fds, 2, text,
				sizeof(text)),
		     EPROTOTYPE);
	cr_assert(strstr(text, "SOCK_STREAM"), "'%s'", text);
	close_all(a, 2);
	close_all(b, 2);
	intact();
}

Test(handshake, seqpacket_sockets_are_eprototype)
{
	int a[2], b[2], fds[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, a),
		     0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, b),
		     0);
	fds[0] = a[1];
	fds[1] = b[1];
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, fds, 2, NULL, 0),
		     EPROTOTYPE);
	close_all(a, 2);
	close_all(b, 2);
	intact();
}

Test(handshake, inet_sockets_are_eprototype)
{
	int fds[2];
	char text[256];

	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || fds[1] < 0)
		cr_skip_test("no AF_INET sockets here: %s", strerror(errno));
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0, fds, 2, text,
				sizeof(text)),
		     EPROTOTYPE);
	cr_assert(strstr(text, "AF_UNIX"), "'%s'", text);
	close_all(fds, 2);
	intact();
}

/* STATUS (and the HELLO answer, the same map) says the architecture:
 * clients number syscalls and spell flags by it. */
Test(handshake, status_names_the_architecture)
{
	struct fx_frame f;
	struct tp_status st;
	struct tp_err e;
	struct tp_msg m;
	struct utsname u;
	int rc;

	cr_assert_eq(uname(&u), 0);
	raw_open();
	tp_msg_init(&m);
	tp_msg_request(&m, 7, TETHER_OP_STATUS);
	msgpack_pack_array(&m.pk, 0);
	raw_send(&m);
	cr_assert_eq((rc = fx_recv_frame(raw.fd, &raw.rb, &f)), 0, "%s",
		     strerror(-rc));
	cr_assert_eq(f.in.code, 0);
	cr_assert_eq(tp_unpack_status(f.in.body, &st, &e), 0, "%s", e.msg);
	cr_assert(st.has & TP_STATUS_ARCH, "no arch in STATUS");
	cr_assert(st.arch.n == strlen(u.machine) &&
		  !memcmp(st.arch.p, u.machine, st.arch.n),
		  "arch %.*s, uname says %s", (int)st.arch.n, st.arch.p,
		  u.machine);
	cr_assert(st.has & TP_STATUS_AUDIT_ARCH);
	cr_assert_eq(st.audit_arch, TP_AUDIT_ARCH);
	fx_frame_free(&f);
	raw_close_intact();
}

Test(handshake, not_hello_is_eproto)
{
	int mine[2], theirs[2];
	struct tp_msg m;
	char text[256];

	stream_pairs(2, mine, theirs);
	tp_msg_init(&m);
	tp_msg_request(&m, 3, TETHER_OP_STATUS);
	msgpack_pack_array(&m.pk, 0);
	cr_assert_eq(tp_msg_finish(&m), 0);
	cr_assert_eq(fx_handshake(fx.sock, tp_msg_data(&m), tp_msg_size(&m),
				  theirs, 2, text, sizeof(text)),
		     EPROTO);
	cr_assert(strstr(text, "expected HELLO"), "'%s'", text);
	tp_msg_destroy(&m);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, garbage_packet_is_eproto)
{
	int mine[2], theirs[2];
	const unsigned char junk[] = { 0, 0, 0, 1, 0xc1 };

	stream_pairs(2, mine, theirs);
	cr_assert_eq(fx_handshake(fx.sock, junk, sizeof(junk), theirs, 2, NULL,
				  0),
		     EPROTO);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, array_bomb_packet_is_eproto)
{
	const unsigned char bomb[] = { 0, 0, 0, 5, 0xdd, 0xff, 0, 0, 0 };

	cr_assert_eq(fx_handshake(fx.sock, bomb, sizeof(bomb), NULL, 0, NULL,
				  0),
		     EPROTO);
	intact();
}

Test(handshake, frame_length_mismatch_is_eproto)
{
	struct tp_msg m;
	unsigned char buf[256];
	char text[256];
	size_t n;

	fx_hello_msg(&m, TETHER_PROTO_VERSION, 0);
	n = tp_msg_size(&m);
	memcpy(buf, tp_msg_data(&m), n);
	tp_msg_destroy(&m);
	buf[3]++;		/* claims one byte more than the packet */
	cr_assert_eq(fx_handshake(fx.sock, buf, n, NULL, 0, text, sizeof(text)),
		     EPROTO);
	cr_assert(strstr(text, "length"), "'%s'", text);
	intact();
}

Test(handshake, short_packet_is_eproto)
{
	cr_assert_eq(fx_handshake(fx.sock, "\0\0", 2, NULL, 0, NULL, 0),
		     EPROTO);
	intact();
}

Test(handshake, bad_hello_body_is_eproto)
{
	struct tp_msg m;
	int mine[2], theirs[2];

	stream_pairs(2, mine, theirs);
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_HELLO);
	msgpack_pack_array(&m.pk, 1);
	msgpack_pack_int(&m.pk, TETHER_PROTO_VERSION);
	cr_assert_eq(tp_msg_finish(&m), 0);
	cr_assert_eq(fx_handshake(fx.sock, tp_msg_data(&m), tp_msg_size(&m),
				  theirs, 2, NULL, 0),
		     EPROTO);
	tp_msg_destroy(&m);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, unknown_flags_is_einval)
{
	int mine[2], theirs[2];
	char text[256];

	stream_pairs(2, mine, theirs);
	cr_assert_eq(hello_with(TETHER_PROTO_VERSION, 0x80, theirs, 2, text,
				sizeof(text)),
		     EINVAL);
	cr_assert(strstr(text, "flags"), "'%s'", text);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, answer_echoes_the_request_id)
{
	/* fx_hello_msg uses id 7; a refusal must name it. */
	struct tp_msg m;
	unsigned char buf[4096];
	struct tp_in in;
	ssize_t n;
	int fd = fx_dial(fx.sock);

	cr_assert_geq(fd, 0);
	fx_hello_msg(&m, 99, 0);
	cr_assert_eq(send(fd, tp_msg_data(&m), tp_msg_size(&m), MSG_NOSIGNAL),
		     (ssize_t)tp_msg_size(&m));
	tp_msg_destroy(&m);
	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_gt(n, 4);
	cr_assert_eq(tp_decode(buf + 4, (size_t)n - 4, &in), 0);
	cr_assert_eq(in.id, 7);
	cr_assert_eq(in.code, EPROTONOSUPPORT);
	tp_in_destroy(&in);
	/* one answer, then the server hangs up */
	cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	intact();
}

Test(handshake, oversized_packet_is_emsgsize)
{
	/* A HELLO padded past the server's 4096-byte packet buffer. */
	int mine[2], theirs[2];
	struct tp_msg m;
	char pad[5000], text[256];

	memset(pad, 'p', sizeof(pad));
	stream_pairs(2, mine, theirs);
	tp_msg_init(&m);
	tp_msg_request(&m, 1, TETHER_OP_HELLO);
	msgpack_pack_array(&m.pk, 4);
	msgpack_pack_int(&m.pk, TETHER_PROTO_VERSION);
	msgpack_pack_int(&m.pk, 0);
	msgpack_pack_int(&m.pk, getpid());
	msgpack_pack_str(&m.pk, sizeof(pad));
	msgpack_pack_str_body(&m.pk, pad, sizeof(pad));
	cr_assert_eq(tp_msg_finish(&m), 0);
	cr_assert_eq(fx_handshake(fx.sock, tp_msg_data(&m), tp_msg_size(&m),
				  theirs, 2, text, sizeof(text)),
		     EMSGSIZE);
	tp_msg_destroy(&m);
	close_all(theirs, 2);
	peers_closed(mine, 2);
	close_all(mine, 2);
	intact();
}

Test(handshake, pending_handshakes_are_limited)
{
	/* Silent peers hold handshake slots; past the limit a newcomer is
	 * told EAGAIN; once they go, attaching works again. */
	int silent[16], mine[2], theirs[2], rc, i;
	char text[256];

	for (i = 0; i < 16; i++)
		cr_assert_geq(silent[i] = fx_dial(fx.sock), 0);
	/* every silent peer is accepted before we go on */
	cr_assert_eq(fx_wait_fds(fx.pid, base_fds + 16), base_fds + 16);
	stream_pairs(2, mine, theirs);
	rc = hello_with(TETHER_PROTO_VERSION, TETHER_HELLO_OBSERVE, theirs, 2,
			text, sizeof(text));
	close_all(theirs, 2);
	for (i = 0; i < 16; i++)
		close(silent[i]);
	close_all(mine, 2);
	cr_assert_eq(rc, EAGAIN, "got %d (%s)", rc, text);
	cr_assert(strstr(text, "handshakes"), "'%s'", text);
	intact();
}

Test(handshake, silent_peer_is_dropped_after_the_time_limit)
{
	/* tetherd's handshake limit is 5 s: wait for its answer up to
	 * three times that. */
	unsigned char buf[4096];
	struct pollfd pfd;
	struct tp_in in;
	ssize_t n;
	int fd = fx_dial(fx.sock);

	cr_assert_geq(fd, 0);
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	cr_assert_gt(poll(&pfd, 1, 3 * FX_DEADLINE_MS), 0, "never dropped");
	n = recv(fd, buf, sizeof(buf), 0);
	cr_assert_gt(n, 4);
	cr_assert_eq(tp_decode(buf + 4, (size_t)n - 4, &in), 0);
	cr_assert_eq(in.code, ETIMEDOUT);
	tp_in_destroy(&in);
	close(fd);
	intact();
}

Test(handshake, connect_and_close_without_hello)
{
	int fd = fx_dial(fx.sock);

	cr_assert_geq(fd, 0);
	close(fd);
	intact();
}

Test(handshake, many_silent_connections)
{
	int fds[20];

	for (int i = 0; i < 20; i++)
		cr_assert_geq(fds[i] = fx_dial(fx.sock), 0);
	for (int i = 0; i < 20; i++)
		close(fds[i]);
	intact();
}

/* ---- controllers and observers ---------------------------------------- */

Test(peers, second_controller_is_ebusy)
{
	struct tether *t = (struct tether *)1;
	char pid[32];

	cr_assert_eq(tether_connect(fx.sock, 0, &t), -EBUSY);
	cr_assert_null(t);
	snprintf(pid, sizeof(pid), "pid %d", (int)getpid());
	cr_assert(strstr(tether_last_error(NULL), pid), "'%s' lacks '%s'",
		  tether_last_error(NULL), pid);
	intact();
}

Test(peers, takeover_replaces_the_controller)
{
	struct tether *t;
	struct tether_status st;
	long rc;

	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t), 0);
	cr_assert_eq(fx_getpid(t), fx.pid);
	cr_assert_gt(tether_info(t)->generation,
		     tether_info(fx.t)->generation);
	rc = fx_getpid(fx.t);
	cr_assert(rc == -ECONNABORTED || rc == -ECONNRESET || rc == -EPIPE,
		  "old controller got %ld", rc);
	cr_assert_eq(tether_status(t, &st), 0);
	cr_assert(st.attached);
	tether_disconnect(t);
	cr_assert_eq(fx_reattach(), 0);
	intact();
}

/* The server sends the replaced controller an ECONNABORTED notice
 * ("taken over by pid N uid U") and closes; the old handle's next
 * request fails to send (EPIPE), and the library must still report the
 * notice waiting in its socket, not -EPIPE. */
Test(peers, takeover_notice_names_the_new_controller)
{
	struct tether *t;
	char text[256];
	long rc;

	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_TAKEOVER, &t), 0);
	rc = fx_getpid(fx.t);
	snprintf(text, sizeof(text), "%s", tether_last_error(fx.t));
	tether_disconnect(t);
	cr_assert_eq(rc, -ECONNABORTED, "got %ld (%s)", rc, text);
	cr_assert(strstr(text, "taken over"), "'%s'", text);
}

Test(peers, observer_may_look_not_act)
{
	struct tether *o;
	struct tether_status st;

	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &o), 0);
	cr_assert(tether_info(o)->observer);
	cr_assert_eq(tether_status(o, &st), 0);
	cr_assert_eq(st.pid, fx.pid);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert_eq(fx_getpid(o), -EBUSY);
	cr_assert(strstr(tether_last_error(o), "observer"), "'%s'",
		  tether_last_error(o));
	cr_assert_eq(tether_shutdown(o), -EBUSY);
	cr_assert_eq(tether_make_persistent(o), -EBUSY);
	tether_disconnect(o);
	intact();
}

Test(peers, controller_detach_frees_its_sockets)
{
	tether_disconnect(fx.t);
	fx.t = NULL;
	cr_assert_eq(fx_wait_fds(fx.pid, base_fds - 2), base_fds - 2);
	cr_assert_eq(fx_reattach(), 0);
	intact();
}

Test(peers, generation_increases_on_reattach)
{
	uint64_t g = tether_info(fx.t)->generation;

	cr_assert_eq(fx_reattach(), 0);
	cr_assert_gt(tether_info(fx.t)->generation, g);
	intact();
}

Test(peers, sighup_is_ignored)
{
	cr_assert_eq(kill(fx.pid, SIGHUP), 0);
	intact();
}

/* A kid that asks for four 1 MiB replies (getpid ignores its out
 * buffer, the server still sends it) and reads none. */
static void greedy_peer(void *arg)
{
	struct pollfd pfd;
	struct tp_msg m;
	int sfd, rc;

	(void)arg;
	if ((rc = fx_attach_raw(fx.sock, TETHER_HELLO_TAKEOVER, &sfd, NULL)))
		kid_fail("attach: %s", strerror(-rc));
	for (unsigned id = 1; id <= 4; id++) {
		syscall_one_arg(&m, id, SYS_getpid);
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
		msgpack_pack_uint64(&m.pk, TETHER_BUF_MAX);
		fx_send_msg(sfd, &m);
		tp_msg_destroy(&m);
	}
	/* the server has begun to answer */
	pfd = (struct pollfd){ .fd = sfd, .events = POLLIN };
	poll(&pfd, 1, FX_DEADLINE_MS);
	kid_hold();
}

Test(peers, sigkill_mid_request_leaves_server_serving)
{
	struct kid k;

	kid_start(&k, greedy_peer, NULL);
	kid_line(&k, "HOLD", NULL, 0);
	kid_kill(&k);
	cr_assert_eq(fx_reattach(), 0, "%s", tether_last_error(NULL));
	intact();
}

/* ---- peer credentials -------------------------------------------------- */

/* In a child as uid 65534: a proper handshake (or, with lib, a library
 * take-over and getpid).  Reports rc and text through a pipe. */
struct uid_result {
	int rc;
	long pid;
	char text[256];
};

static struct uid_result as_nobody(const char *sock, bool lib)
{
	struct uid_result r = { .rc = -999 };
	pid_t child;
	int p[2], st;

	/* The fixture's dir is 0700; uid 65534 must reach the socket. */
	cr_assert_eq(chmod(fx.dir, 0711), 0);
	cr_assert_eq(chmod(sock, 0666), 0);
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	child = fork();
	cr_assert_geq(child, 0);
	if (child == 0) {
		struct tether *t;
		struct tp_msg m;
		int mine[2], theirs[2];

		fx_forked();
		close(p[0]);
		if (setuid(65534) < 0) {
			r.rc = -1000 - errno;
		} else if (lib) {
			r.rc = tether_connect(sock, TETHER_CONNECT_TAKEOVER,
					      &t);
			snprintf(r.text, sizeof(r.text), "%s",
				 tether_last_error(NULL));
			if (r.rc == 0) {
				r.pid = fx_getpid(t);
				tether_disconnect(t);
			}
		} else {
			stream_pairs(2, mine, theirs);
			fx_hello_msg(&m, TETHER_PROTO_VERSION, 0);
			r.rc = fx_handshake(sock, tp_msg_data(&m),
					    tp_msg_size(&m), theirs, 2, r.text,
					    sizeof(r.text));
		}
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	cr_assert_eq(tp_read_all(p[0], &r, sizeof(r)), 0);
	close(p[0]);
	waitpid(child, &st, 0);
	if (r.rc <= -1000)
		cr_skip_test("cannot become uid 65534: %s",
			     strerror(-1000 - r.rc));
	return r;
}

Test(uid, other_uid_refused_with_eacces)
{
	struct uid_result r;

	cr_assert_eq(fx_start(fx.sock, NULL, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	base_fds = settled_fds();
	r = as_nobody(fx.sock, false);
	cr_assert_eq(r.rc, EACCES, "got %d (%s)", r.rc, r.text);
	cr_assert(strstr(r.text, "65534"), "text does not name the uid: '%s'",
		  r.text);
	intact();
}

/* KNOWN BUG (server + library): tetherd refuses a foreign uid right
 * after accept(): it sends the EACCES answer and closes while the
 * client's HELLO is still unread in its queue.  Closing a Unix socket
 * with unread data makes the peer's first recv() fail with ECONNRESET
 * (or the HELLO send fails with EPIPE if it comes after the close), so
 * tether_connect() returns -ECONNRESET/-EPIPE and the text naming the
 * uid never reaches the user.  (fx_handshake retries the recv, which is
 * why the raw test above sees the answer.) */
Test(uid, other_uid_refused_through_the_library,
     .description = "KNOWN BUG: EACCES refusal lost as ECONNRESET/EPIPE")
{
	struct uid_result r;

	cr_assert_eq(fx_start(fx.sock, NULL, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	base_fds = settled_fds();
	r = as_nobody(fx.sock, true);
	cr_assert_eq(r.rc, -EACCES, "got %d (%s)", r.rc, r.text);
	cr_assert(strstr(r.text, "uid 65534"), "'%s'", r.text);
	intact();
}

Test(uid, allowed_uid_admitted)
{
	const char *extra[] = { "--allow-uid", "65534", NULL };
	struct uid_result r;

	cr_assert_eq(fx_start(fx.sock, extra, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	r = as_nobody(fx.sock, true);
	cr_assert_eq(r.rc, 0, "got %d (%s)", r.rc, r.text);
	cr_assert_eq(r.pid, fx.pid);
}

Test(uid, allow_list_of_others_still_refuses)
{
	const char *extra[] = { "--allow-uid", "1000,1001", NULL };
	struct uid_result r;

	cr_assert_eq(fx_start(fx.sock, extra, &fx.t), 0);
	fx.pid = tether_info(fx.t)->pid;
	r = as_nobody(fx.sock, false);
	cr_assert_eq(r.rc, EACCES, "got %d (%s)", r.rc, r.text);
}

Test(uid, bad_allow_uid_refuses_to_start)
{
	const char *extra[] = { "--allow-uid", "12x", NULL };
	struct tether *t;

	cr_assert_lt(fx_start(fx.sock, extra, &t), 0);
}

/* ---- life and death ---------------------------------------------------- */

/* pid as text. */
static const char *pidstr(pid_t pid)
{
	static char buf[32];

	snprintf(buf, sizeof(buf), "%d", (int)pid);
	return buf;
}

Test(life, socket_0600_in_a_0700_directory)
{
	char sock[160], dir[128];
	struct stat st;
	struct tether *t;

	fx_path(dir, sizeof(dir), "sub/deeper");
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	cr_assert_eq(fx_start(sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(lstat(sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "socket mode %o",
		     st.st_mode & 07777);
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700, "dir mode %o",
		     st.st_mode & 07777);
	fx_path(dir, sizeof(dir), "sub");
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0700, "parent dir mode %o",
		     st.st_mode & 07777);
	tether_disconnect(t);
}

Test(life, socket_mode_ignores_umask)
{
	struct stat st;
	struct tether *t;

	umask(0);
	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	cr_assert_eq(lstat(fx.sock, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "socket mode %o",
		     st.st_mode & 07777);
	tether_disconnect(t);
}

Test(life, world_writable_directory_refused)
{
	char dir[128], sock[160];
	struct tether *t;

	fx_path(dir, sizeof(dir), "open");
	cr_assert_eq(mkdir(dir, 0777), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	snprintf(sock, sizeof(sock), "%s/s.sock", dir);
	cr_assert_eq(fx_start(sock, NULL, &t), -EACCES);
	cr_assert(strstr(tether_last_error(NULL), "world-writable"), "'%s'",
		  tether_last_error(NULL));
}

Test(life, second_server_same_path_refused)
{
	struct tether *a, *b = (struct tether *)1;
	pid_t pid;

	cr_assert_eq(fx_start(fx.sock, NULL, &a), 0);
	pid = tether_info(a)->pid;
	cr_assert_eq(fx_start(fx.sock, NULL, &b), -EADDRINUSE);
	cr_assert_null(b);
	cr_assert(strstr(tether_last_error(NULL), "another tetherd"), "'%s'",
		  tether_last_error(NULL));
	cr_assert(strstr(tether_last_error(NULL), pidstr(pid)),
		  "'%s' does not name pid %d", tether_last_error(NULL),
		  (int)pid);
	/* the first one is unharmed */
	cr_assert_eq(fx_getpid(a), pid);
	tether_disconnect(a);
}

Test(life, stale_socket_replaced)
{
	struct tether *a, *b;
	struct stat st;
	pid_t pid;

	cr_assert_eq(fx_start(fx.sock, NULL, &a), 0);
	pid = tether_info(a)->pid;
	tether_disconnect(a);
	kill(pid, SIGKILL);
	cr_assert(fx_wait_gone(pid));
	cr_assert_eq(lstat(fx.sock, &st), 0, "the dead server's socket stays");
	cr_assert_eq(fx_start(fx.sock, NULL, &b), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_neq(tether_info(b)->pid, pid);
	cr_assert_eq(fx_getpid(b), tether_info(b)->pid);
	tether_disconnect(b);
}

/* KNOWN BUG (server, listen.c): restarting at once after a SIGKILL,
 * as a supervisor would, fails about half the time with -EADDRINUSE "a
 * server is still listening".  The dead server's io_uring still holds
 * a multishot accept on the listening socket; the kernel tears the ring
 * down asynchronously after the process is reaped, so for a moment the
 * socket still accepts, and td_listen_clear_stale's connect() probe
 * takes that for a live server although the successor already holds
 * the flock, which proves the old one dead. */
Test(life, stale_socket_replaced_at_once,
     .description = "KNOWN BUG: connect probe sees a dead server's socket")
{
	for (int i = 0; i < 10; i++) {
		struct tether *t;
		pid_t pid;
		int rc;

		rc = fx_start(fx.sock, NULL, &t);
		cr_assert_eq(rc, 0, "round %d: %s (%s)", i, strerror(-rc),
			     tether_last_error(NULL));
		pid = tether_info(t)->pid;
		tether_disconnect(t);
		kill(pid, SIGKILL);
		cr_assert_eq(waitpid(pid, NULL, 0), pid);
	}
}

Test(life, foreign_file_at_socket_path_refused)
{
	struct tether *t;

	fx_write_file(fx.sock, "not a socket", 12);
	cr_assert_eq(fx_start(fx.sock, NULL, &t), -EEXIST);
}

/* A controller kid: a server of its own on fx.sock (persistent if
 * asked), a file and a pipe with data in it if asked; then it holds. */
struct ctl_kid {
	bool persistent;
	bool make_fds;
	pid_t server;			/* what it reported */
	int file_fd;
	int pipe_rd;
	struct kid k;
};

static void controller(void *arg)
{
	const struct ctl_kid *c = arg;
	struct tether *t = kid_start_server();
	char path[128];
	int pp[2], fd, rc;

	if (c->persistent && (rc = tether_make_persistent(t)) < 0)
		kid_fail("make persistent: %s", strerror(-rc));
	if (c->make_fds) {
		snprintf(path, sizeof(path), "%s/data.txt", fx.dir);
		fd = (int)fx_openat(t, AT_FDCWD, path, O_RDONLY, 0);
		if (fd < 0 || fx_pipe2(t, pp, 0) < 0 ||
		    fx_write(t, pp[1], "piped", 5) != 5)
			kid_fail("fds: %s", tether_last_error(t));
		kid_say("FDS %d %d", fd, pp[0]);
	}
	kid_hold();
}

/* Start the controller kid c asks for; its reports into c. */
static void controller_kid(struct ctl_kid *c)
{
	char rest[64];

	kid_start(&c->k, controller, c);
	c->server = (pid_t)kid_num(&c->k, "SERVER");
	fx_track(c->server);
	if (c->make_fds) {
		kid_line(&c->k, "FDS", rest, sizeof(rest));
		cr_assert_eq(sscanf(rest, "%d %d", &c->file_fd, &c->pipe_rd),
			     2, "FDS line: %s", rest);
	}
	kid_line(&c->k, "HOLD", NULL, 0);
}

Test(life, non_persistent_dies_with_its_controller)
{
	struct ctl_kid c = { .persistent = false };
	struct tether *t;
	int rc;

	controller_kid(&c);
	cr_assert(!fx_gone(c.server));
	kid_kill(&c.k);
	cr_assert(fx_wait_gone(c.server),
		  "server %d outlived its controller", (int)c.server);
	/* The kernel may keep the dead server's listening socket open a
	 * moment longer (its io_uring is torn down asynchronously): such a
	 * connect is reset, never answered. */
	for (int i = 0; i < FX_DEADLINE_MS / 10; i++) {
		rc = tether_connect(fx.sock, 0, &t);
		if (rc == 0)
			tether_disconnect(t);
		if (rc != -ECONNRESET && rc != -EPIPE)
			break;
		kit_nap_ms(10);
	}
	cr_assert_eq(rc, -ECONNREFUSED, "connect after its death: %d (%s)", rc,
		     tether_last_error(NULL));
}

Test(life, persistent_survives_its_controller)
{
	struct ctl_kid c = { .persistent = true };
	struct tether_status st;

	controller_kid(&c);
	kid_kill(&c.k);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(fx_getpid(fx.t), c.server);
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert(st.persistent);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert(!fx_gone(c.server));
}

Test(life, fds_outlive_their_controller)
{
	struct ctl_kid c = { .persistent = true, .make_fds = true };
	char path[128], buf[32] = "";

	fx_path(path, sizeof(path), "data.txt");
	fx_write_file(path, "filedata", 8);
	controller_kid(&c);
	kid_kill(&c.k);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(fx_read(fx.t, c.pipe_rd, buf, sizeof(buf)), 5);
	cr_assert_eq(memcmp(buf, "piped", 5), 0);
	memset(buf, 0, sizeof(buf));
	cr_assert_eq(fx_read(fx.t, c.file_fd, buf, sizeof(buf)), 8);
	cr_assert_str_eq(buf, "filedata");
}

/* Wait for our child pid to exit; its wait status. */
static int wait_exit(pid_t pid, int deadline_ms)
{
	int st = -1;

	for (int i = 0; i < deadline_ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return st;
		kit_nap_ms(10);
	}
	cr_assert_fail("pid %d did not exit", (int)pid);
	return -1;
}

Test(life, sigterm_exits_cleanly_and_removes_socket)
{
	struct tether *t;
	struct stat st;
	pid_t pid;
	int ws;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	cr_assert_eq(kill(pid, SIGTERM), 0);
	ws = wait_exit(pid, FX_DEADLINE_MS);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0,
		  "tetherd wait status %#x", ws);
	cr_assert_eq(lstat(fx.sock, &st), -1, "socket still there");
	cr_assert_eq(errno, ENOENT);
	tether_disconnect(t);
}

Test(life, sigint_exits_cleanly_too)
{
	struct tether *t;
	pid_t pid;
	int ws;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	cr_assert_eq(kill(pid, SIGINT), 0);
	ws = wait_exit(pid, FX_DEADLINE_MS);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %#x", ws);
	tether_disconnect(t);
}

Test(life, sigterm_with_an_idle_observer)
{
	struct tether *t, *o;
	pid_t pid;
	int ws;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &o), 0);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	ws = wait_exit(pid, FX_DEADLINE_MS);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %#x", ws);
	tether_disconnect(o);
	tether_disconnect(t);
}

Test(life, sigterm_with_unread_replies_exits_by_its_deadline)
{
	/* A controller that never reads its 4 MiB of replies cannot hold
	 * the server past its shutdown deadline. */
	struct tether *t;
	struct tp_msg m;
	pid_t pid;
	int sfd, ws;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	cr_assert_eq(fx_attach_raw(fx.sock, TETHER_HELLO_TAKEOVER, &sfd, NULL),
		     0);
	for (unsigned id = 1; id <= 4; id++) {
		syscall_one_arg(&m, id, SYS_getpid);
		msgpack_pack_array(&m.pk, 2);
		msgpack_pack_int(&m.pk, TETHER_ARGTAG_OUT);
		msgpack_pack_uint64(&m.pk, TETHER_BUF_MAX);
		cr_assert_eq(fx_send_msg(sfd, &m), 0);
		tp_msg_destroy(&m);
	}
	struct pollfd pfd = { .fd = sfd, .events = POLLIN };
	cr_assert_gt(poll(&pfd, 1, FX_DEADLINE_MS), 0);
	cr_assert_eq(kill(pid, SIGTERM), 0);
	/* its own deadline is 5 s: allow it twice that and more */
	ws = wait_exit(pid, 3 * FX_DEADLINE_MS);
	cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "status %#x", ws);
	close(sfd);
	tether_disconnect(t);
}

Test(life, shutdown_request_exits_and_removes_socket)
{
	struct tether *t;
	struct stat st;
	pid_t pid;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	cr_assert_eq(tether_shutdown(t), 0, "%s", tether_last_error(t));
	cr_assert(fx_wait_gone(pid));
	cr_assert_eq(lstat(fx.sock, &st), -1, "socket still there");
	tether_disconnect(t);
}

Test(life, restart_after_shutdown)
{
	struct tether *t;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	cr_assert_eq(tether_shutdown(t), 0);
	tether_disconnect(t);
	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0, "%s",
		     tether_last_error(NULL));
	cr_assert_eq(fx_getpid(t), tether_info(t)->pid);
	tether_disconnect(t);
}

Test(life, persistent_server_shut_down_by_a_later_controller)
{
	struct ctl_kid c = { .persistent = true };
	struct stat st;

	controller_kid(&c);
	kid_kill(&c.k);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0);
	cr_assert_eq(tether_shutdown(fx.t), 0);
	cr_assert(fx_wait_gone(c.server));
	cr_assert_eq(lstat(fx.sock, &st), -1);
}

Test(life, disconnect_does_not_stop_the_server)
{
	struct tether *t;
	pid_t pid;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	pid = tether_info(t)->pid;
	tether_disconnect(t);
	cr_assert_eq(fx_connect_retry(fx.sock, 0, &fx.t), 0);
	cr_assert_eq(fx_getpid(fx.t), pid);
}
