/*
 * gen_corpus: write the seed corpus for fuzz_decode into a directory.
 *
 * Each file is one raw msgpack payload (no 4-byte length prefix): the
 * well-formed ones are built with the proto codec, the hostile ones are
 * spelled out byte by byte.
 *
 * usage: gen_corpus DIR
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "proto.h"

#define GC_PID 4242
#define GC_AT_FDCWD (-100)
#define GC_DEEP 64			/* nesting of the deep seed */

struct gc_built {
	const char *name;
	int (*build)(struct tp_msg *m);
};

struct gc_raw {
	const char *name;
	const unsigned char *bytes;
	size_t len;
};

/* ---- helpers ---------------------------------------------------------- */

/* A bin object. */
static int gc_pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
	return msgpack_pack_bin(pk, n) || msgpack_pack_bin_body(pk, p, n) ?
	       -ENOMEM : 0;
}

/* [id, SYSCALL, [nr, [ ... the caller packs nargs arguments. */
static int gc_call(struct tp_msg *m, uint64_t id, long nr, unsigned nargs,
		   bool with_flags)
{
	tp_msg_request(m, id, TETHER_OP_SYSCALL);
	return msgpack_pack_array(&m->pk, with_flags ? 3 : 2) ||
	       msgpack_pack_long(&m->pk, nr) ||
	       msgpack_pack_array(&m->pk, nargs) ? -ENOMEM : 0;
}

/* ---- well-formed requests --------------------------------------------- */

/* [1, HELLO, [version, flags, pid]] */
static int gc_hello(struct tp_msg *m)
{
	tp_msg_request(m, 1, TETHER_OP_HELLO);
	return msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_uint32(&m->pk, TETHER_PROTO_VERSION) ||
	       msgpack_pack_uint32(&m->pk, TETHER_HELLO_TAKEOVER) ||
	       msgpack_pack_int32(&m->pk, GC_PID) ? -ENOMEM : 0;
}

/* getpid: no arguments at all. */
static int gc_getpid(struct tp_msg *m)
{
	return gc_call(m, 2, SYS_getpid, 0, false);
}

/* close(7): one plain integer. */
static int gc_int(struct tp_msg *m)
{
	return gc_call(m, 3, SYS_close, 1, false) ||
	       msgpack_pack_int(&m->pk, 7) ? -ENOMEM : 0;
}

/* lseek(3, -16, SEEK_END): a negative integer. */
static int gc_negint(struct tp_msg *m)
{
	return gc_call(m, 4, SYS_lseek, 3, false) ||
	       msgpack_pack_int(&m->pk, 3) ||
	       msgpack_pack_int(&m->pk, -16) ||
	       msgpack_pack_int(&m->pk, SEEK_END) ? -ENOMEM : 0;
}

/* write(1, "hello\n", 6): an in buffer as bin. */
static int gc_in(struct tp_msg *m)
{
	return gc_call(m, 5, SYS_write, 3, false) ||
	       msgpack_pack_int(&m->pk, 1) ||
	       gc_pack_bin(&m->pk, "hello\n", 6) ||
	       msgpack_pack_int(&m->pk, 6) ? -ENOMEM : 0;
}

/* openat(AT_FDCWD, "/etc/hostname", O_RDONLY|O_CLOEXEC, 0): a string. */
static int gc_str(struct tp_msg *m)
{
	if (gc_call(m, 6, SYS_openat, 4, false) ||
	    msgpack_pack_int(&m->pk, GC_AT_FDCWD))
		return -ENOMEM;
	tp_pack_str(&m->pk, "/etc/hostname");
	return msgpack_pack_int(&m->pk, O_RDONLY | O_CLOEXEC) ||
	       msgpack_pack_int(&m->pk, 0) ? -ENOMEM : 0;
}

/* read(0, [1, 4096], 4096) with the TRIM flag: an out buffer. */
static int gc_out(struct tp_msg *m)
{
	return gc_call(m, 7, SYS_read, 3, true) ||
	       msgpack_pack_int(&m->pk, 0) ||
	       msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_int(&m->pk, TETHER_ARGTAG_OUT) ||
	       msgpack_pack_uint32(&m->pk, 4096) ||
	       msgpack_pack_uint32(&m->pk, 4096) ||
	       msgpack_pack_uint32(&m->pk, TETHER_CALL_TRIM) ? -ENOMEM : 0;
}

/* ioctl(0, TIOCGWINSZ, [2, bin, 8]): an in/out buffer. */
static int gc_inout(struct tp_msg *m)
{
	static const unsigned char ws[8];

	return gc_call(m, 8, SYS_ioctl, 3, false) ||
	       msgpack_pack_int(&m->pk, 0) ||
	       msgpack_pack_uint32(&m->pk, TIOCGWINSZ) ||
	       msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_int(&m->pk, TETHER_ARGTAG_INOUT) ||
	       gc_pack_bin(&m->pk, ws, sizeof(ws)) ||
	       msgpack_pack_uint32(&m->pk, sizeof(ws)) ? -ENOMEM : 0;
}

/* mmap(0, 4096, 3, 0x22, -1, 0): six arguments, the most allowed. */
static int gc_six(struct tp_msg *m)
{
	return gc_call(m, 9, SYS_mmap, 6, false) ||
	       msgpack_pack_int(&m->pk, 0) ||
	       msgpack_pack_int(&m->pk, 4096) ||
	       msgpack_pack_int(&m->pk, 3) ||
	       msgpack_pack_int(&m->pk, 0x22) ||
	       msgpack_pack_int(&m->pk, -1) ||
	       msgpack_pack_int(&m->pk, 0) ? -ENOMEM : 0;
}

/* [10, STATUS, []] */
static int gc_status(struct tp_msg *m)
{
	tp_msg_request(m, 10, TETHER_OP_STATUS);
	return msgpack_pack_array(&m->pk, 0) ? -ENOMEM : 0;
}

/* [11, SUBMIT, [[getpid, read(3, [1, 64], 64), nr 5000], 0]]: entries
 * are SYSCALL bodies, one with a number past the table. */
static int gc_submit(struct tp_msg *m)
{
	tp_msg_request(m, 11, TETHER_OP_SUBMIT);
	return msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_long(&m->pk, SYS_getpid) ||
	       msgpack_pack_array(&m->pk, 0) ||
	       msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_long(&m->pk, SYS_read) ||
	       msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_int(&m->pk, 3) ||
	       msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_int(&m->pk, TETHER_ARGTAG_OUT) ||
	       msgpack_pack_uint32(&m->pk, 64) ||
	       msgpack_pack_uint32(&m->pk, 64) ||
	       msgpack_pack_uint32(&m->pk, TETHER_CALL_TRIM) ||
	       msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_long(&m->pk, 5000) ||
	       msgpack_pack_array(&m->pk, 0) ||
	       msgpack_pack_uint32(&m->pk, 0) ? -ENOMEM : 0;
}

/* [12, SUBMIT, [[], 1]]: no entry, an unknown flag. */
static int gc_submit_empty(struct tp_msg *m)
{
	tp_msg_request(m, 12, TETHER_OP_SUBMIT);
	return msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_array(&m->pk, 0) ||
	       msgpack_pack_uint32(&m->pk, 1) ? -ENOMEM : 0;
}

/* [13, REAP, [1, 1024, 100]] */
static int gc_reap(struct tp_msg *m)
{
	tp_msg_request(m, 13, TETHER_OP_REAP);
	return msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_uint32(&m->pk, 1) ||
	       msgpack_pack_uint32(&m->pk, TETHER_SUBMIT_MAX) ||
	       msgpack_pack_int(&m->pk, 100) ? -ENOMEM : 0;
}

/* [14, REAP, [2^64-1, 0, INT64_MIN]]: the extremes of each field. */
static int gc_reap_hostile(struct tp_msg *m)
{
	tp_msg_request(m, 14, TETHER_OP_REAP);
	return msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_uint64(&m->pk, UINT64_MAX) ||
	       msgpack_pack_uint64(&m->pk, 0) ||
	       msgpack_pack_int64(&m->pk, INT64_MIN) ? -ENOMEM : 0;
}

/* [15, UPGRADE, ["/usr/sbin/tetherd"]] */
static int gc_upgrade(struct tp_msg *m)
{
	tp_msg_request(m, 15, TETHER_OP_UPGRADE);
	return msgpack_pack_array(&m->pk, 1) ||
	       tp_pack_str(&m->pk, "/usr/sbin/tetherd") ? -ENOMEM : 0;
}

/* ---- well-formed replies ---------------------------------------------- */

/* [2, 0, [ret, []]]: a getpid answer. */
static int gc_reply_call(struct tp_msg *m)
{
	tp_msg_reply(m, 2, 0);
	return msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_int(&m->pk, GC_PID) ||
	       msgpack_pack_array(&m->pk, 0) ? -ENOMEM : 0;
}

/* [7, 0, [5, [bin]]]: a read answer with its out buffer. */
static int gc_reply_out(struct tp_msg *m)
{
	tp_msg_reply(m, 7, 0);
	return msgpack_pack_array(&m->pk, 2) ||
	       msgpack_pack_int(&m->pk, 5) ||
	       msgpack_pack_array(&m->pk, 1) ||
	       gc_pack_bin(&m->pk, "hello", 5) ? -ENOMEM : 0;
}

/* [10, 0, {...}]: a status answer, for tp_map_get. */
static int gc_reply_status(struct tp_msg *m)
{
	tp_msg_reply(m, 10, 0);
	if (msgpack_pack_map(&m->pk, 6))
		return -ENOMEM;
	tp_pack_kv_int(&m->pk, "pid", GC_PID);
	tp_pack_kv_int(&m->pk, "generation", 3);
	tp_pack_kv_bool(&m->pk, "persistent", false);
	tp_pack_kv_bool(&m->pk, "attached", true);
	tp_pack_kv_int(&m->pk, "uptime_ms", 123456);
	tp_pack_kv_str(&m->pk, "label", NULL);
	return 0;
}

/* [6, -ENOENT, "message"]: an error answer. */
static int gc_reply_error(struct tp_msg *m)
{
	/* tp_msg_error finishes the frame; finishing twice is harmless. */
	return tp_msg_error(m, 6, -ENOENT, "openat: %s", "no such file");
}

/* [11, 0, {ids: [1, 2, 3]}]: a SUBMIT answer. */
static int gc_reply_submit(struct tp_msg *m)
{
	tp_msg_reply(m, 11, 0);
	return msgpack_pack_map(&m->pk, 1) ||
	       tp_pack_str(&m->pk, "ids") ||
	       msgpack_pack_array(&m->pk, 3) ||
	       msgpack_pack_uint32(&m->pk, 1) ||
	       msgpack_pack_uint32(&m->pk, 2) ||
	       msgpack_pack_uint32(&m->pk, 3) ? -ENOMEM : 0;
}

/* [13, 0, {completions: [[1, [pid, []]], [2, [5, [bin]]]], queued: 1,
 * running: 0}]: a REAP answer. */
static int gc_reply_reap(struct tp_msg *m)
{
	tp_msg_reply(m, 13, 0);
	if (msgpack_pack_map(&m->pk, 3) ||
	    tp_pack_str(&m->pk, "completions") ||
	    msgpack_pack_array(&m->pk, 2) ||
	    msgpack_pack_array(&m->pk, 2) ||
	    msgpack_pack_uint32(&m->pk, 1) ||
	    msgpack_pack_array(&m->pk, 2) ||
	    msgpack_pack_int(&m->pk, GC_PID) ||
	    msgpack_pack_array(&m->pk, 0) ||
	    msgpack_pack_array(&m->pk, 2) ||
	    msgpack_pack_uint32(&m->pk, 2) ||
	    msgpack_pack_array(&m->pk, 2) ||
	    msgpack_pack_int(&m->pk, 5) ||
	    msgpack_pack_array(&m->pk, 1) ||
	    gc_pack_bin(&m->pk, "hello", 5) ||
	    tp_pack_kv_int(&m->pk, "queued", 1) ||
	    tp_pack_kv_int(&m->pk, "running", 0))
		return -ENOMEM;
	return 0;
}

static const struct gc_built gc_built[] = {
	{ "req_hello", gc_hello },
	{ "req_syscall_getpid", gc_getpid },
	{ "req_syscall_int", gc_int },
	{ "req_syscall_negint", gc_negint },
	{ "req_syscall_in_bin", gc_in },
	{ "req_syscall_str", gc_str },
	{ "req_syscall_out_flags", gc_out },
	{ "req_syscall_inout", gc_inout },
	{ "req_syscall_six_args", gc_six },
	{ "req_status", gc_status },
	{ "req_submit", gc_submit },
	{ "req_submit_empty_flags", gc_submit_empty },
	{ "req_reap", gc_reap },
	{ "req_reap_hostile", gc_reap_hostile },
	{ "req_upgrade", gc_upgrade },
	{ "rep_syscall", gc_reply_call },
	{ "rep_syscall_out", gc_reply_out },
	{ "rep_status_map", gc_reply_status },
	{ "rep_error", gc_reply_error },
	{ "rep_submit_ids", gc_reply_submit },
	{ "rep_reap_completions", gc_reply_reap },
};

/* ---- hostile bytes ---------------------------------------------------- */

/* array32 claiming 0xff000000 elements (msgpack-c #1013). */
static const unsigned char gc_array32_huge[] = { 0xdd, 0xff, 0x00, 0x00, 0x00 };
/* map32 claiming 2^32-1 pairs. */
static const unsigned char gc_map32_huge[] = { 0xdf, 0xff, 0xff, 0xff, 0xff };
/* str32 announcing 4096 bytes, holding 3. */
static const unsigned char gc_str32_short[] = {
	0x93, 0x01, 0x02, 0xdb, 0x00, 0x00, 0x10, 0x00, 'a', 'b', 'c',
};
/* [1, 2, fixext1] */
static const unsigned char gc_fixext1[] = { 0x93, 0x01, 0x02, 0xd4, 0x01, 0x00 };
/* [1, 2, ext8 of 3 bytes, type 5] */
static const unsigned char gc_ext8[] = {
	0x93, 0x01, 0x02, 0xc7, 0x03, 0x05, 0x01, 0x02, 0x03,
};

static const struct gc_raw gc_raw[] = {
	{ "bad_array32_huge", gc_array32_huge, sizeof(gc_array32_huge) },
	{ "bad_map32_huge", gc_map32_huge, sizeof(gc_map32_huge) },
	{ "bad_str32_truncated", gc_str32_short, sizeof(gc_str32_short) },
	{ "bad_ext_fixext1", gc_fixext1, sizeof(gc_fixext1) },
	{ "bad_ext_ext8", gc_ext8, sizeof(gc_ext8) },
};

/* ---- output ----------------------------------------------------------- */

/* Write one file dir/name holding exactly p[0..n). */
static int gc_write(const char *dir, const char *name, const void *p,
		    size_t n)
{
	char path[4096];
	int fd, rc, len;

	len = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (len < 0 || (size_t)len >= sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	rc = tp_write_all(fd, p, n);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(-rc));
	return rc;
}

/* Build one seed with the codec and write its payload. */
static int gc_write_built(const char *dir, const struct gc_built *b)
{
	struct tp_msg m;
	int rc;

	tp_msg_init(&m);
	rc = b->build(&m);
	if (rc == 0)
		rc = tp_msg_finish(&m);
	if (rc == 0)
		rc = gc_write(dir, b->name,
			      (const char *)tp_msg_data(&m) + TETHER_FRAME_HDR,
			      tp_msg_size(&m) - TETHER_FRAME_HDR);
	else
		fprintf(stderr, "gen_corpus: building %s: %s\n", b->name,
			strerror(-rc));
	tp_msg_destroy(&m);
	return rc;
}

/* GC_DEEP nested one-element arrays around a 0: 91 91 ... 91 00. */
static int gc_write_deep(const char *dir)
{
	unsigned char buf[GC_DEEP + 1];

	memset(buf, 0x91, GC_DEEP);
	buf[GC_DEEP] = 0x00;
	return gc_write(dir, "bad_deep_nesting", buf, sizeof(buf));
}

int main(int argc, char **argv)
{
	size_t i;
	int failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	if (mkdir(argv[1], 0755) < 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	for (i = 0; i < sizeof(gc_built) / sizeof(gc_built[0]); i++)
		failed |= gc_write_built(argv[1], &gc_built[i]) < 0;
	for (i = 0; i < sizeof(gc_raw) / sizeof(gc_raw[0]); i++)
		failed |= gc_write(argv[1], gc_raw[i].name, gc_raw[i].bytes,
				   gc_raw[i].len) < 0;
	failed |= gc_write_deep(argv[1]) < 0;
	return failed;
}
