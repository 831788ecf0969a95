/*
 * tetherctl's decoded results (controller/cli/ctl_decode*.c) on known
 * bytes: name tables, struct decoders, the text and JSON a call prints,
 * and the fallbacks (--raw, failed calls, short or malformed buffers).
 * No server: the bytes a server would send are written by hand.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <time.h>

#include "ctl.h"
#include "ctl_kit.h"
#include "ctl_decode.h"

/* Dates in the text output are local: make local UTC. */
static void utc(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
}

TestSuite(xlat);
TestSuite(decode, .init = utc);
TestSuite(decode_json, .init = utc);
TestSuite(fallback, .init = utc);

/* ---- helpers ------------------------------------------------------- */

static void parse_ok(const char *line, struct ctl_callspec *cs)
{
	char **argv, err[256];
	int argc;

	cr_assert_eq(ctl_words(line, &argv, &argc), 0, "%s", line);
	cr_assert_eq(ctl_call_parse(argc, argv, cs, err, sizeof(err)), 0,
		     "%s: %s", line, err);
	ctl_words_free(argv, argc);
}

static void expect_has(const struct ctl_callspec *cs, bool json,
		       const char *needle)
{
	char *got = printed(cs, json);

	cr_assert(strstr(got, needle), "\"%s\" lacks \"%s\"", got, needle);
	free(got);
}

static void expect_xlat(enum ctl_xfam fam, uint64_t v, const char *want)
{
	char buf[256];

	ctl_xlat_format(buf, sizeof(buf), fam, v);
	cr_assert_str_eq(buf, want, "value %#llx", (unsigned long long)v);
}

/* ---- name tables --------------------------------------------------- */

Test(xlat, open_flags)
{
	expect_xlat(CTL_X_OPEN, O_RDONLY, "O_RDONLY");
	expect_xlat(CTL_X_OPEN, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    "O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC");
	expect_xlat(CTL_X_OPEN, O_RDWR | O_NONBLOCK | 0100000,
		    "O_RDWR|O_NONBLOCK|O_LARGEFILE");
	/* a name of several bits wins over its parts */
	expect_xlat(CTL_X_OPEN, O_RDWR | O_TMPFILE, "O_RDWR|O_TMPFILE");
	expect_xlat(CTL_X_OPEN, O_WRONLY | O_SYNC, "O_WRONLY|O_SYNC");
	/* bits without a name are kept, in hex */
	expect_xlat(CTL_X_OPEN, O_RDONLY | O_CLOEXEC | 0x100000000ULL,
		    "O_RDONLY|O_CLOEXEC|0x100000000");
	expect_xlat(CTL_X_OFLAGS, 0, "0");
	expect_xlat(CTL_X_OFLAGS, O_CLOEXEC | O_NONBLOCK,
		    "O_NONBLOCK|O_CLOEXEC");
}

Test(xlat, modes)
{
	expect_xlat(CTL_X_MODE, S_IFREG | 0644, "S_IFREG|0644");
	expect_xlat(CTL_X_MODE, S_IFDIR | S_ISVTX | 0777,
		    "S_IFDIR|S_ISVTX|0777");
	expect_xlat(CTL_X_MODE, S_IFREG | S_ISUID | 0755,
		    "S_IFREG|S_ISUID|0755");
	expect_xlat(CTL_X_MODE, 0600, "0600");
	expect_xlat(CTL_X_MODE, 0, "000");
}

Test(xlat, values)
{
	char want[32];

	expect_xlat(CTL_X_SIGNAL, SIGTERM, "SIGTERM");
	expect_xlat(CTL_X_SIGNAL, SIGKILL, "SIGKILL");
	expect_xlat(CTL_X_SIGNAL, 0, "0");
	expect_xlat(CTL_X_SIGNAL, (uint64_t)SIGRTMIN, "SIGRTMIN");
	expect_xlat(CTL_X_SIGNAL, (uint64_t)SIGRTMIN + 2, "SIGRTMIN+2");
	snprintf(want, sizeof(want), "%d", SIGRTMAX + 1);
	expect_xlat(CTL_X_SIGNAL, (uint64_t)SIGRTMAX + 1, want);
	expect_xlat(CTL_X_FCNTL, F_SETFL, "F_SETFL");
	expect_xlat(CTL_X_FCNTL, 9999, "9999");
	expect_xlat(CTL_X_WHENCE, SEEK_END, "SEEK_END");
	expect_xlat(CTL_X_CLOCK, CLOCK_MONOTONIC, "CLOCK_MONOTONIC");
	expect_xlat(CTL_X_RLIMIT, RLIMIT_NOFILE, "RLIMIT_NOFILE");
	expect_xlat(CTL_X_FAMILY, AF_UNIX, "AF_UNIX");
}

Test(xlat, flag_families)
{
	expect_xlat(CTL_X_ACCESS, 0, "F_OK");
	expect_xlat(CTL_X_ACCESS, R_OK | W_OK, "R_OK|W_OK");
	expect_xlat(CTL_X_PROT, 0, "PROT_NONE");
	expect_xlat(CTL_X_PROT, PROT_READ | PROT_EXEC, "PROT_READ|PROT_EXEC");
	expect_xlat(CTL_X_SOCKTYPE, SOCK_STREAM | SOCK_CLOEXEC,
		    "SOCK_STREAM|SOCK_CLOEXEC");
	expect_xlat(CTL_X_SOCKFLAGS, SOCK_NONBLOCK, "SOCK_NONBLOCK");
	expect_xlat(CTL_X_POLL, POLLIN | POLLHUP, "POLLIN|POLLHUP");
	expect_xlat(CTL_X_AT, AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH,
		    "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
}

Test(xlat, cut_like_snprintf)
{
	char buf[8];
	size_t n;

	n = ctl_xlat_format(buf, sizeof(buf), CTL_X_OPEN,
			    O_WRONLY | O_CREAT | O_TRUNC);
	cr_assert_eq(n, 7);
	cr_assert_str_eq(buf, "O_WRONL");
	cr_assert_eq(ctl_xlat_format(buf, 0, CTL_X_OPEN, 0), 0);
}

/* ---- the text a call prints ---------------------------------------- */

Test(decode, pipe2_fds)
{
	struct ctl_callspec cs;
	int fds[2] = { 3, 4 };

	parse_ok("pipe2 @8 0", &cs);
	fill_out(&cs, 0, fds, sizeof(fds));
	cs.call.ret = 0;
	expect_print(&cs, false, "pipe2([3, 4], 0) = 0\n");
	ctl_callspec_free(&cs);

	parse_ok("pipe2 @ O_CLOEXEC|O_NONBLOCK", &cs);
	fill_out(&cs, 0, fds, sizeof(fds));
	expect_print(&cs, false, "pipe2([3, 4], O_NONBLOCK|O_CLOEXEC) = 0\n");
	ctl_callspec_free(&cs);
}

/* A struct stat with every field known. */
static struct stat known_stat(void)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_dev = makedev(8, 1);
	st.st_ino = 1234;
	st.st_mode = S_IFREG | 0644;
	st.st_nlink = 1;
	st.st_uid = 1000;
	st.st_gid = 100;
	st.st_size = 5;
	st.st_blksize = 4096;
	st.st_blocks = 8;
	st.st_atim.tv_sec = 1700000000;
	st.st_atim.tv_nsec = 1;
	st.st_mtim.tv_sec = 1700000001;
	st.st_ctim.tv_sec = 1700000002;
	st.st_ctim.tv_nsec = 999999999;
	return st;
}

Test(decode, fstat)
{
	struct ctl_callspec cs;
	struct stat st = known_stat();

	parse_ok("fstat 3 @", &cs);
	fill_out(&cs, 1, &st, sizeof(st));
	cs.call.ret = 0;
	expect_print(&cs, false,
		     "fstat(3, {st_dev=makedev(0x8, 0x1), st_ino=1234, "
		     "st_mode=S_IFREG|0644, st_nlink=1, st_uid=1000, "
		     "st_gid=100, st_size=5, st_blksize=4096, st_blocks=8, "
		     "st_atime=1700000000 /* 2023-11-14T22:13:20.000000001"
		     "+0000 */, st_mtime=1700000001 /* 2023-11-14T22:13:21."
		     "000000000+0000 */, st_ctime=1700000002 /* 2023-11-14T22:"
		     "13:22.999999999+0000 */}) = 0\n");
	ctl_callspec_free(&cs);
}

Test(decode, newfstatat_device)
{
	struct ctl_callspec cs;
	struct stat st = known_stat();

	st.st_mode = S_IFCHR | 0666;
	st.st_rdev = makedev(1, 3);
	parse_ok("newfstatat AT_FDCWD \"/dev/null\" @ AT_SYMLINK_NOFOLLOW",
		 &cs);
	fill_out(&cs, 2, &st, sizeof(st));
	cs.call.ret = 0;
	expect_has(&cs, false, "newfstatat(AT_FDCWD, \"/dev/null\", {st_dev=");
	expect_has(&cs, false, "st_mode=S_IFCHR|0666, ");
	expect_has(&cs, false, "st_rdev=makedev(0x1, 0x3), st_size=5");
	expect_has(&cs, false, "}, AT_SYMLINK_NOFOLLOW) = 0\n");
	ctl_callspec_free(&cs);
}

Test(decode, statx)
{
	struct ctl_callspec cs;
	struct statx sx;

	memset(&sx, 0, sizeof(sx));
	sx.stx_mask = STATX_BASIC_STATS;
	sx.stx_mode = S_IFDIR | 0755;
	sx.stx_size = 4096;
	sx.stx_nlink = 2;
	sx.stx_dev_major = 0xfe;
	parse_ok("statx AT_FDCWD \"/\" 0 0x7ff @", &cs);
	fill_out(&cs, 4, &sx, sizeof(sx));
	cs.call.ret = 0;
	expect_has(&cs, false, "statx(AT_FDCWD, \"/\", 0, STATX_BASIC_STATS, "
			       "{stx_mask=STATX_BASIC_STATS, stx_dev=makedev("
			       "0xfe, 0), stx_ino=0, stx_mode=S_IFDIR|0755, "
			       "stx_nlink=2, ");
	expect_has(&cs, false, "stx_size=4096, ");
	ctl_callspec_free(&cs);
}

Test(decode, failed_openat_names_flags_and_errno)
{
	struct ctl_callspec cs;

	parse_ok("openat -100 \"/missing\" 0x80000", &cs);
	cs.call.ret = -ENOENT;
	expect_print(&cs, false,
		     "openat(AT_FDCWD, \"/missing\", O_RDONLY|O_CLOEXEC) = -1 "
		     "ENOENT (No such file or directory)\n");
	ctl_callspec_free(&cs);

	parse_ok("openat 3 \"x\" O_WRONLY|O_CREAT 420", &cs);
	cs.call.ret = 4;
	expect_print(&cs, false,
		     "openat(3, \"x\", O_WRONLY|O_CREAT, 0644) = 4\n");
	ctl_callspec_free(&cs);
}

Test(decode, signals_and_commands)
{
	struct ctl_callspec cs;

	parse_ok("kill 1234 15", &cs);
	cs.call.ret = 0;
	expect_print(&cs, false, "kill(1234, SIGTERM) = 0\n");
	ctl_callspec_free(&cs);

	parse_ok("fcntl 3 4 0x800", &cs);
	cs.call.ret = 0;
	expect_print(&cs, false,
		     "fcntl(3, F_SETFL, O_RDONLY|O_NONBLOCK) = 0\n");
	ctl_callspec_free(&cs);

	parse_ok("fcntl 3 F_SETFD 1", &cs);
	expect_print(&cs, false, "fcntl(3, F_SETFD, FD_CLOEXEC) = 0\n");
	ctl_callspec_free(&cs);

	/* F_DUPFD's argument is a number */
	parse_ok("fcntl 3 F_DUPFD 10", &cs);
	cs.call.ret = 10;
	expect_print(&cs, false, "fcntl(3, F_DUPFD, 10) = 10\n");
	ctl_callspec_free(&cs);

	parse_ok("mmap 0 4096 3 0x22 -1 0", &cs);
	cs.call.ret = 0x7f0000001000;
	expect_print(&cs, false, "mmap(0, 4096, PROT_READ|PROT_WRITE, "
				 "MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) = "
				 "0x7f0000001000\n");
	ctl_callspec_free(&cs);
}

Test(decode, times_and_limits)
{
	struct ctl_callspec cs;
	struct timespec ts = { .tv_sec = 12, .tv_nsec = 345 };
	struct rlimit rl = { .rlim_cur = 1024, .rlim_max = RLIM_INFINITY };

	parse_ok("clock_gettime 1 @", &cs);
	fill_out(&cs, 1, &ts, sizeof(ts));
	cs.call.ret = 0;
	expect_print(&cs, false, "clock_gettime(CLOCK_MONOTONIC, {tv_sec=12, "
				 "tv_nsec=345}) = 0\n");
	ctl_callspec_free(&cs);

	parse_ok("getrlimit 7 @", &cs);
	fill_out(&cs, 1, &rl, sizeof(rl));
	cs.call.ret = 0;
	expect_print(&cs, false, "getrlimit(RLIMIT_NOFILE, {rlim_cur=1024, "
				 "rlim_max=RLIM_INFINITY}) = 0\n");
	ctl_callspec_free(&cs);

	/* an in buffer of a known type is shown too */
	parse_ok("nanosleep x:01000000000000000200000000000000", &cs);
	cs.call.ret = 0;
	expect_print(&cs, false,
		     "nanosleep({tv_sec=1, tv_nsec=2}) = 0\n");
	ctl_callspec_free(&cs);
}

Test(decode, uname)
{
	struct ctl_callspec cs;
	struct utsname u;

	memset(&u, 0, sizeof(u));
	strcpy(u.sysname, "Linux");
	strcpy(u.nodename, "box\"1");
	strcpy(u.release, "6.1.0");
	strcpy(u.version, "#1 SMP");
	strcpy(u.machine, "x86_64");
	strcpy(u.domainname, "(none)");
	parse_ok("uname @", &cs);
	fill_out(&cs, 0, &u, sizeof(u));
	cs.call.ret = 0;
	expect_print(&cs, false,
		     "uname({sysname=\"Linux\", nodename=\"box\\\"1\", "
		     "release=\"6.1.0\", version=\"#1 SMP\", "
		     "machine=\"x86_64\", domainname=\"(none)\"}) = 0\n");
	ctl_callspec_free(&cs);
}

Test(decode, poll_and_epoll)
{
	struct ctl_callspec cs;
	struct pollfd pf[2] = { { 3, POLLIN, POLLIN | POLLHUP },
				{ 4, POLLOUT, 0 } };
	struct epoll_event ev[3] = { { .events = EPOLLIN, .data.u64 = 7 },
				     { .events = EPOLLOUT, .data.u64 = 8 } };

	parse_ok("poll @16 2 0", &cs);
	fill_out(&cs, 0, pf, sizeof(pf));
	cs.call.ret = 1;
	expect_print(&cs, false,
		     "poll([{fd=3, events=POLLIN, revents=POLLIN|POLLHUP}, "
		     "{fd=4, events=POLLOUT, revents=0}], 2, 0) = 1\n");
	ctl_callspec_free(&cs);

	/* room for 3, 2 came back: only those are shown */
	parse_ok("epoll_wait 5 @ 3 0", &cs);
	fill_out(&cs, 1, ev, sizeof(ev));
	cs.call.ret = 2;
	expect_print(&cs, false,
		     "epoll_wait(5, [{events=EPOLLIN, data=0x7}, "
		     "{events=EPOLLOUT, data=0x8}], 3, 0) = 2\n");
	cs.call.ret = 0;
	expect_print(&cs, false, "epoll_wait(5, [], 3, 0) = 0\n");
	ctl_callspec_free(&cs);
}

/* Two linux_dirent64 records, as the kernel packs them. */
static size_t two_dirents(unsigned char *buf, size_t size)
{
	static const struct {
		uint64_t ino;
		int64_t off;
		uint8_t type;
		const char *name;
	} e[] = { { 11, 1, DT_DIR, "." }, { 12, 2, DT_REG, "file.txt" } };
	size_t off = 0, i, reclen;

	memset(buf, 0, size);
	for (i = 0; i < 2; i++) {
		reclen = (19 + strlen(e[i].name) + 1 + 7) & ~(size_t)7;
		memcpy(buf + off, &e[i].ino, 8);
		memcpy(buf + off + 8, &e[i].off, 8);
		memcpy(buf + off + 16, &(uint16_t){ (uint16_t)reclen }, 2);
		buf[off + 18] = e[i].type;
		strcpy((char *)buf + off + 19, e[i].name);
		off += reclen;
	}
	return off;
}

Test(decode, getdents64)
{
	struct ctl_callspec cs;
	unsigned char buf[256];
	size_t n = two_dirents(buf, sizeof(buf));

	parse_ok("getdents64 3 @256 256", &cs);
	fill_out(&cs, 1, buf, n);
	cs.call.ret = (long)n;
	expect_print(&cs, false,
		     "getdents64(3, [{d_ino=11, d_off=1, d_reclen=24, "
		     "d_type=DT_DIR, d_name=\".\"}, {d_ino=12, d_off=2, "
		     "d_reclen=32, d_type=DT_REG, d_name=\"file.txt\"}], 256) = "
		     "56\n");
	/* a record that claims more than is there ends the list */
	memcpy((unsigned char *)cs.call.args[1].out + 24 + 16,
	       &(uint16_t){ 200 }, 2);
	expect_print(&cs, false,
		     "getdents64(3, [{d_ino=11, d_off=1, d_reclen=24, "
		     "d_type=DT_DIR, d_name=\".\"}], 256) = 56\n");
	ctl_callspec_free(&cs);
}

Test(decode, sockets)
{
	struct ctl_callspec cs;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fds[2] = { 5, 6 };
	uint64_t set = (1ULL << (SIGINT - 1)) | (1ULL << (SIGTERM - 1));

	parse_ok("socketpair AF_UNIX SOCK_STREAM|SOCK_CLOEXEC 0 @", &cs);
	fill_out(&cs, 3, fds, sizeof(fds));
	cs.call.ret = 0;
	expect_print(&cs, false, "socketpair(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC,"
				 " 0, [5, 6]) = 0\n");
	ctl_callspec_free(&cs);

	strcpy(sun.sun_path, "/run/x.sock");
	parse_ok("getsockname 3 @ @4:x:80000000", &cs);
	fill_out(&cs, 1, &sun, sizeof(sun));
	fill_out(&cs, 2, &(uint32_t){ 14 }, 4);
	cs.call.ret = 0;
	expect_print(&cs, false, "getsockname(3, {sa_family=AF_UNIX, "
				 "sun_path=\"/run/x.sock\"}, [14]) = 0\n");
	ctl_callspec_free(&cs);

	parse_ok("rt_sigpending @8 8", &cs);
	fill_out(&cs, 0, &set, sizeof(set));
	cs.call.ret = 0;
	expect_print(&cs, false, "rt_sigpending([INT TERM], 8) = 0\n");
	ctl_callspec_free(&cs);
}

Test(decode, results)
{
	struct ctl_callspec cs;

	parse_ok("fcntl 3 F_GETFL", &cs);
	cs.call.ret = O_RDWR | 0100000;
	expect_print(&cs, false,
		     "fcntl(3, F_GETFL) = 0x8002 (flags O_RDWR|O_LARGEFILE)\n");
	cs.raw = true;
	expect_print(&cs, false, "fcntl(3, F_GETFL) = 32770\n");
	ctl_callspec_free(&cs);

	parse_ok("fcntl 3 F_GETFD", &cs);
	cs.call.ret = FD_CLOEXEC;
	expect_print(&cs, false,
		     "fcntl(3, F_GETFD) = 0x1 (flags FD_CLOEXEC)\n");
	cs.call.ret = -EBADF;
	expect_print(&cs, false, "fcntl(3, F_GETFD) = -1 EBADF (Bad file "
				 "descriptor)\n");
	ctl_callspec_free(&cs);

	parse_ok("umask 077", &cs);
	cs.call.ret = 022;
	expect_print(&cs, false, "umask(077) = 022\n");
	ctl_callspec_free(&cs);
}

/* ---- JSON ---------------------------------------------------------- */

Test(decode_json, pipe2_fds)
{
	struct ctl_callspec cs;
	int fds[2] = { 3, 4 };

	parse_ok("pipe2 @8 O_CLOEXEC", &cs);
	fill_out(&cs, 0, fds, sizeof(fds));
	cs.call.ret = 0;
	/* today's fields first, unchanged; then decoded and fds */
	expect_print(&cs, true,
		     "{\"syscall\":\"pipe2\",\"nr\":293,\"ret\":0,\"errno\":"
		     "null,\"errno_num\":null,\"error\":null,\"args\":[{\"out\":"
		     "\"\\u0003\\u0000\\u0000\\u0000\\u0004\\u0000\\u0000"
		     "\\u0000\",\"returned\":8,\"size\":8},524288],\"outs\":["
		     "\"\\u0003\\u0000\\u0000\\u0000\\u0004\\u0000\\u0000"
		     "\\u0000\"],\"outs_hex\":[\"0300000004000000\"],"
		     "\"decoded\":[[3,4],\"O_CLOEXEC\"],\"fds\":[3,4]}\n");
	/* a failed pipe2 has no fds */
	cs.call.ret = -EMFILE;
	cs.call.args[0].returned = 0;
	expect_print(&cs, true,
		     "{\"syscall\":\"pipe2\",\"nr\":293,\"ret\":-1,\"errno\":"
		     "\"EMFILE\",\"errno_num\":24,\"error\":\"Too many open "
		     "files\",\"args\":[{\"out\":\"\",\"returned\":0,\"size\":8},"
		     "524288],\"outs\":[\"\"],\"outs_hex\":[\"\"],"
		     "\"decoded\":[null,\"O_CLOEXEC\"]}\n");
	ctl_callspec_free(&cs);
}

Test(decode_json, stat)
{
	struct ctl_callspec cs;
	struct stat st = known_stat();

	parse_ok("fstat 3 @", &cs);
	fill_out(&cs, 1, &st, sizeof(st));
	cs.call.ret = 0;
	expect_has(&cs, true,
		   ",\"decoded\":[null,{\"st_dev\":2049,\"st_ino\":1234,"
		   "\"st_mode\":33188,\"st_mode_name\":\"S_IFREG|0644\","
		   "\"st_nlink\":1,\"st_uid\":1000,\"st_gid\":100,"
		   "\"st_size\":5,\"st_blksize\":4096,\"st_blocks\":8,"
		   "\"st_atime\":1700000000,\"st_atime_nsec\":1,"
		   "\"st_mtime\":1700000001,\"st_mtime_nsec\":0,"
		   "\"st_ctime\":1700000002,\"st_ctime_nsec\":999999999}]}\n");
	/* today's fields are all still there */
	/* binary bytes are not UTF-8: {"hex": ...} (tetherctl(1), JSON OUTPUT) */
	expect_has(&cs, true, "\"args\":[3,{\"out\":{\"hex\":\"");
	expect_has(&cs, true, "\"outs_hex\":[\"");
	ctl_callspec_free(&cs);
}

Test(decode_json, nothing_to_decode_adds_nothing)
{
	struct ctl_callspec cs;

	parse_ok("getpid", &cs);
	cs.call.ret = 42;
	expect_print(&cs, true,
		     "{\"syscall\":\"getpid\",\"nr\":39,\"ret\":42,\"errno\":"
		     "null,\"errno_num\":null,\"error\":null,\"args\":[],"
		     "\"outs\":[],\"outs_hex\":[]}\n");
	ctl_callspec_free(&cs);
}

/* ---- fallbacks ----------------------------------------------------- */

Test(fallback, raw_keeps_bytes_and_tokens)
{
	struct ctl_callspec cs;
	int fds[2] = { 3, 4 };

	parse_ok("pipe2 @8 0x80000", &cs);
	fill_out(&cs, 0, fds, sizeof(fds));
	cs.call.ret = 0;
	cs.raw = true;
	expect_print(&cs, false, "pipe2(\"\\x03\\x00\\x00\\x00\\x04\\x00\\x00"
				 "\\x00\", 0x80000) = 0\n");
	/* and JSON exactly as before decoding existed */
	expect_print(&cs, true,
		     "{\"syscall\":\"pipe2\",\"nr\":293,\"ret\":0,\"errno\":"
		     "null,\"errno_num\":null,\"error\":null,\"args\":[{\"out\":"
		     "\"\\u0003\\u0000\\u0000\\u0000\\u0004\\u0000\\u0000"
		     "\\u0000\",\"returned\":8,\"size\":8},524288],\"outs\":["
		     "\"\\u0003\\u0000\\u0000\\u0000\\u0004\\u0000\\u0000"
		     "\\u0000\"],\"outs_hex\":[\"0300000004000000\"]}\n");
	ctl_callspec_free(&cs);
}

Test(fallback, failed_call_shows_the_request)
{
	struct ctl_callspec cs;

	parse_ok("fstat 99 @", &cs);
	cs.call.ret = -EBADF;
	expect_print(&cs, false, "fstat(99, @) = -1 EBADF (Bad file "
				 "descriptor)\n");
	ctl_callspec_free(&cs);
}

Test(fallback, short_struct_is_bytes)
{
	struct ctl_callspec cs;

	/* fewer bytes came back than a struct stat: never read past them */
	parse_ok("fstat 3 @", &cs);
	fill_out(&cs, 1, "abc", 3);
	cs.call.ret = 0;
	expect_print(&cs, false, "fstat(3, \"abc\") = 0\n");
	ctl_callspec_free(&cs);
}

Test(fallback, unknown_types_and_calls)
{
	struct ctl_callspec cs;

	/* read's buffer is text: as today */
	parse_ok("read 3 @8 8", &cs);
	fill_out(&cs, 1, "hi\n", 3);
	cs.call.ret = 3;
	expect_print(&cs, false, "read(3, \"hi\\n\", 8) = 3\n");
	ctl_callspec_free(&cs);

	/* a number the table does not know: arguments as typed */
	parse_ok("999 0x10 @4", &cs);
	fill_out(&cs, 1, "abcd", 4);
	cs.call.ret = 0;
	expect_print(&cs, false, "999(0x10, \"abcd\") = 0\n");
	ctl_callspec_free(&cs);

	/* a batch's $K is not a number to name */
	parse_ok("kill $0 15", &cs);
	cs.call.ret = 0;
	expect_print(&cs, false, "kill($0, SIGTERM) = 0\n");
	ctl_callspec_free(&cs);
}
