/*
 * Syscalls through a real tetherd, every argument kind, and the
 * library's error paths.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kit.h"

TestSuite(syscall, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(helpers, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(callerr, .init = fx_init_server, .fini = fx_fini, .timeout = 30);
TestSuite(lib, .init = fx_init_dir, .fini = fx_fini, .timeout = 30);

/* ---- helpers --------------------------------------------------------- */

static const char hello[] = "hello\n";

/* dir/name with content, opened in the server. */
static int srv_file(const char *name, const void *data, size_t len, int flags)
{
	char path[128];
	int fd;

	fx_path(path, sizeof(path), name);
	if (data)
		fx_write_file(path, data, len);
	fd = fx_openat(fx.t, AT_FDCWD, path, flags, 0644);
	cr_assert_geq(fd, 0, "openat %s in the server: %s", path,
		      strerror(-fd));
	return fd;
}

/* Run c; the call itself must reach the server. */
static void run(struct tether_call *c)
{
	int rc = tether_call(fx.t, c);

	cr_assert_eq(rc, 0, "tether_call(nr %ld): %s (%s)", c->nr,
		     strerror(-rc), tether_last_error(fx.t));
}

/* The server still answers, and is who it was. */
static void still_serving(void)
{
	cr_assert_eq(fx_getpid(fx.t), fx.pid, "server stopped answering "
		     "(%s)", tether_last_error(fx.t));
}

/* Open /proc/PID/fd/FD of the server locally. */
static int local_open_server_fd(int fd, int flags)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)fx.pid, fd);
	return open(path, flags | O_CLOEXEC);
}

/* A syscall that must be refused by policy, leaving the server alive. */
static void refused(long nr, unsigned nargs)
{
	struct tether_call c = { .nr = nr, .nargs = nargs };
	int rc;

	for (unsigned i = 0; i < nargs; i++)
		c.args[i] = TETHER_INT(0);
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, -EPERM, "syscall %ld: got %d", nr, rc);
	cr_assert(strstr(tether_last_error(fx.t), "syscall"),
		  "error text: '%s'", tether_last_error(fx.t));
	still_serving();
	cr_assert_eq(kill(fx.pid, 0), 0);
}

/* ---- argument kinds -------------------------------------------------- */

Test(syscall, int_negative_at_fdcwd)
{
	char path[128], link[64], target[256];
	struct tether_call c = { .nr = SYS_openat, .nargs = 3 };
	ssize_t n;

	fx_path(path, sizeof(path), "f.txt");
	fx_write_file(path, hello, 6);
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(path);
	c.args[2] = TETHER_INT(O_RDONLY);
	run(&c);
	cr_assert_geq(c.ret, 0, "openat: %s", strerror((int)-c.ret));
	snprintf(link, sizeof(link), "/proc/%d/fd/%ld", (int)fx.pid, c.ret);
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = '\0';
	cr_assert_str_eq(target, path);
}

Test(syscall, in_buffer_read_back_locally)
{
	int p[2], lfd;
	char buf[16] = "";

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC), 0);
	cr_assert_eq(fx_write(fx.t, p[1], "abc", 3), 3);
	lfd = local_open_server_fd(p[0], O_RDONLY | O_NONBLOCK);
	cr_assert_geq(lfd, 0, "open /proc/%d/fd/%d: %s", (int)fx.pid, p[0],
		      strerror(errno));
	cr_assert_eq(read(lfd, buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "abc", 3), 0);
	close(lfd);
}

Test(syscall, in_buffer_read_back_via_server)
{
	int p[2];
	char buf[16] = "";

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(fx_write(fx.t, p[1], "\0\1\2\377", 4), 4);
	cr_assert_eq(fx_read(fx.t, p[0], buf, sizeof(buf)), 4);
	cr_assert_eq(memcmp(buf, "\0\1\2\377", 4), 0);
}

Test(syscall, out_buffer_fstat)
{
	char path[128];
	struct stat st, local;
	struct tether_call c = { .nr = SYS_fstat, .nargs = 2 };
	int fd = srv_file("st.txt", hello, 6, O_RDONLY);

	fx_path(path, sizeof(path), "st.txt");
	cr_assert_eq(stat(path, &local), 0);
	memset(&st, 0xa5, sizeof(st));
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_OUT(&st, sizeof(st));
	run(&c);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(c.args[1].returned, sizeof(st));
	cr_assert_eq(st.st_size, 6);
	cr_assert_eq(st.st_ino, local.st_ino);
	cr_assert_eq(st.st_dev, local.st_dev);
	cr_assert(S_ISREG(st.st_mode));
}

Test(syscall, inout_getsockopt_optlen)
{
	struct tether_call c = { .nr = SYS_socket, .nargs = 3 };
	uint64_t optlen = 8;		/* socklen_t in, 4 bytes back */
	int type = 0, fd;

	c.args[0] = TETHER_INT(AF_UNIX);
	c.args[1] = TETHER_INT(SOCK_DGRAM | SOCK_CLOEXEC);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_geq(c.ret, 0);
	fd = (int)c.ret;

	memset(&c, 0, sizeof(c));
	c.nr = SYS_getsockopt;
	c.nargs = 5;
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_INT(SOL_SOCKET);
	c.args[2] = TETHER_INT(SO_TYPE);
	c.args[3] = TETHER_OUT(&type, sizeof(type));
	c.args[4] = TETHER_INOUT(&optlen, sizeof(socklen_t), sizeof(optlen));
	run(&c);
	cr_assert_eq(c.ret, 0, "getsockopt: %s", strerror((int)-c.ret));
	cr_assert_eq(type, SOCK_DGRAM);
	cr_assert_eq(c.args[4].returned, sizeof(optlen));
	cr_assert_eq((socklen_t)optlen, sizeof(int),
		     "optlen came back as %u", (unsigned)(socklen_t)optlen);
}

Test(syscall, inout_larger_capacity_is_zero_filled)
{
	/* in 4 bytes, capacity 16: the server's buffer beyond the input
	 * is zeroed, and all 16 come back (getsockopt uses 4 of them). */
	struct tether_call c = { .nr = SYS_socket, .nargs = 3 };
	unsigned char optlen[16];
	socklen_t len = sizeof(int);
	int type = 0, fd;

	c.args[0] = TETHER_INT(AF_UNIX);
	c.args[1] = TETHER_INT(SOCK_STREAM);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_geq(c.ret, 0);
	fd = (int)c.ret;

	memset(optlen, 0xee, sizeof(optlen));
	memcpy(optlen, &len, sizeof(len));
	c = (struct tether_call){ .nr = SYS_getsockopt, .nargs = 5 };
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_INT(SOL_SOCKET);
	c.args[2] = TETHER_INT(SO_TYPE);
	c.args[3] = TETHER_OUT(&type, sizeof(type));
	c.args[4] = TETHER_INOUT(optlen, sizeof(socklen_t), sizeof(optlen));
	run(&c);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(type, SOCK_STREAM);
	cr_assert_eq(c.args[4].returned, sizeof(optlen));
	for (size_t i = sizeof(socklen_t); i < sizeof(optlen); i++)
		cr_assert_eq(optlen[i], 0, "byte %zu", i);
}

Test(syscall, pipe2_out_of_8_bytes)
{
	int fds[2] = { -1, -1 };
	struct tether_call c = { .nr = SYS_pipe2, .nargs = 2 };

	c.args[0] = TETHER_OUT(fds, sizeof(fds));
	c.args[1] = TETHER_INT(O_CLOEXEC);
	run(&c);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(c.args[0].returned, 8);
	cr_assert_geq(fds[0], 3);
	cr_assert_geq(fds[1], 3);
	cr_assert_neq(fds[0], fds[1]);
	cr_assert_eq(fx_write(fx.t, fds[1], "z", 1), 1);
}

Test(syscall, string_path_openat)
{
	char path[128];
	int fd;

	fx_path(path, sizeof(path), "with space & 'quote\".txt");
	fx_write_file(path, hello, 6);
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0);
	cr_assert_geq(fd, 0, "%s", strerror(-fd));
}

Test(syscall, empty_string_argument)
{
	cr_assert_eq(fx_openat(fx.t, AT_FDCWD, "", O_RDONLY, 0), -ENOENT);
}

Test(syscall, string_over_limit_refused)
{
	size_t n = TETHER_STR_MAX + 1;
	char *s = malloc(n + 1);
	struct tether_call c = { .nr = SYS_openat, .nargs = 3 };
	int rc;

	cr_assert_not_null(s);
	memset(s, 'a', n);
	s[n] = '\0';
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(s);
	c.args[2] = TETHER_INT(O_RDONLY);
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, -ENAMETOOLONG);
	cr_assert(strstr(tether_last_error(fx.t), "argument 1"), "'%s'",
		  tether_last_error(fx.t));
	free(s);
	still_serving();
}

Test(syscall, string_at_limit_runs)
{
	size_t n = TETHER_STR_MAX;
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, 'a', n);
	s[n] = '\0';
	/* Runs, and the kernel itself says the name is too long. */
	cr_assert_eq(fx_openat(fx.t, AT_FDCWD, s, O_RDONLY, 0),
		     -ENAMETOOLONG);
	free(s);
}

/* ---- trimming -------------------------------------------------------- */

Test(syscall, read_trims_to_ret)
{
	char buf[64];
	struct tether_call c = { .nr = SYS_read, .nargs = 3 };

	memset(buf, 'X', sizeof(buf));
	c.args[0] = TETHER_INT(srv_file("r.txt", hello, 6, O_RDONLY));
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	run(&c);
	cr_assert_eq(c.ret, 6);
	cr_assert_eq(c.args[1].returned, 6);
	cr_assert_eq(memcmp(buf, hello, 6), 0);
	cr_assert_eq(buf[6], 'X', "bytes past ret left alone");
}

Test(syscall, readlinkat_trims_to_ret)
{
	char path[128], buf[256];
	const char *target = "some/where/else";
	struct tether_call c = { .nr = SYS_readlinkat, .nargs = 4 };

	fx_path(path, sizeof(path), "lnk");
	cr_assert_eq(symlink(target, path), 0);
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(path);
	c.args[2] = TETHER_OUT(buf, sizeof(buf));
	c.args[3] = TETHER_INT(sizeof(buf));
	run(&c);
	cr_assert_eq(c.ret, (long)strlen(target));
	cr_assert_eq(c.args[2].returned, strlen(target));
	cr_assert_eq(memcmp(buf, target, strlen(target)), 0);
}

Test(syscall, getdents64_trims_to_ret)
{
	char path[128], buf[4096];
	struct tether_call c = { .nr = SYS_getdents64, .nargs = 3 };
	bool found = false;
	long off = 0;
	int fd;

	fx_path(path, sizeof(path), "entry-one");
	fx_write_file(path, "", 0);
	fd = fx_openat(fx.t, AT_FDCWD, fx.dir, O_RDONLY | O_DIRECTORY,
			   0);
	cr_assert_geq(fd, 0);
	c.args[0] = TETHER_INT(fd);
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	run(&c);
	cr_assert_gt(c.ret, 0);
	cr_assert_lt(c.ret, (long)sizeof(buf));
	cr_assert_eq(c.args[1].returned, (size_t)c.ret);
	while (off < c.ret) {
		struct dirent64 *de = (struct dirent64 *)(buf + off);

		cr_assert_gt(de->d_reclen, 0);
		if (!strcmp(de->d_name, "entry-one"))
			found = true;
		off += de->d_reclen;
	}
	cr_assert(found, "entry-one listed");
}

Test(syscall, notrim_returns_whole_buffer)
{
	char buf[64];
	struct tether_call c = { .nr = SYS_read, .nargs = 3,
				 .flags = TETHER_CALL_NOTRIM };

	memset(buf, 'X', sizeof(buf));
	c.args[0] = TETHER_INT(srv_file("n.txt", hello, 6, O_RDONLY));
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	run(&c);
	cr_assert_eq(c.ret, 6);
	cr_assert_eq(c.args[1].returned, sizeof(buf));
	cr_assert_eq(memcmp(buf, hello, 6), 0);
	for (size_t i = 6; i < sizeof(buf); i++)
		cr_assert_eq(buf[i], 0, "byte %zu not zeroed by the server", i);
}

/* sched_getaffinity returns the bytes of the kernel's cpumask (fewer
 * than the 64 asked), and is not in the trim table. */
static void affinity_call(struct tether_call *c, void *buf, size_t n,
			  unsigned flags)
{
	*c = (struct tether_call){ .nr = SYS_sched_getaffinity, .nargs = 3,
				   .flags = flags };
	c->args[0] = TETHER_INT(0);
	c->args[1] = TETHER_INT(n);
	c->args[2] = TETHER_OUT(buf, n);
}

Test(syscall, trim_flag_on_any_syscall)
{
	/* TRIM cuts the out buffer to ret. */
	char buf[64];
	struct tether_call c;

	affinity_call(&c, buf, sizeof(buf), TETHER_CALL_TRIM);
	run(&c);
	cr_assert_gt(c.ret, 0);
	cr_assert_lt(c.ret, (long)sizeof(buf));
	cr_assert_eq(c.args[2].returned, (size_t)c.ret);
}

Test(syscall, no_trim_without_table_or_flag)
{
	char buf[64];
	struct tether_call c;

	affinity_call(&c, buf, sizeof(buf), 0);
	run(&c);
	cr_assert_gt(c.ret, 0);
	cr_assert_eq(c.args[2].returned, sizeof(buf));
}

Test(syscall, failed_read_returns_no_bytes)
{
	char buf[16];
	struct tether_call c = { .nr = SYS_read, .nargs = 3 };

	c.args[0] = TETHER_INT(9999);
	c.args[1] = TETHER_OUT(buf, sizeof(buf));
	c.args[2] = TETHER_INT(sizeof(buf));
	run(&c);
	cr_assert_eq(c.ret, -EBADF);
	cr_assert_eq(c.args[1].returned, 0);
}

/* Regression: msgpack-c's str/bin objects point into the receive
 * buffer; tl_rpc_recv() used to consume the frame (tp_rbuf_consume
 * shrinks a large buffer with realloc) before tl_call_unpack() copied
 * the out buffer, reading freed memory for replies over 256 KiB. */
Test(syscall, read_1mib_reply)
{
	/* A reply of TETHER_BUF_MAX bytes: the largest out buffer. */
	size_t n = TETHER_BUF_MAX;
	unsigned char *data = malloc(n), *buf = malloc(n);
	ssize_t got;
	int fd;

	cr_assert_not_null(data);
	cr_assert_not_null(buf);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 7 + i / 4096);
	fd = srv_file("big.bin", data, n, O_RDONLY);
	memset(buf, 0, n);
	got = fx_read(fx.t, fd, buf, n);
	cr_assert_eq(got, (ssize_t)n, "read: %zd (%s)", got,
		     tether_last_error(fx.t));
	cr_assert_eq(memcmp(buf, data, n), 0,
		     "the 1 MiB reply arrived corrupted");
	free(data);
	free(buf);
	still_serving();
}

/* Regression: as read_1mib_reply. */
Test(syscall, read_300k_then_small_call)
{
	/* A large reply, then another call on the same handle. */
	size_t n = 300 * 1024;
	unsigned char *data = malloc(n), *buf = malloc(n);
	int fd;

	cr_assert_not_null(data);
	cr_assert_not_null(buf);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i ^ (i >> 8));
	fd = srv_file("mid.bin", data, n, O_RDONLY);
	cr_assert_eq(fx_read(fx.t, fd, buf, n), (ssize_t)n);
	cr_assert_eq(memcmp(buf, data, n), 0, "300 KiB reply corrupted");
	cr_assert_eq(fx_lseek(fx.t, fd, 0, SEEK_SET), 0);
	cr_assert_eq(fx_read(fx.t, fd, buf, 16), 16);
	cr_assert_eq(memcmp(buf, data, 16), 0);
	free(data);
	free(buf);
}

/* ---- errno mapping --------------------------------------------------- */

Test(syscall, enoent_from_openat)
{
	char path[128];

	fx_path(path, sizeof(path), "does-not-exist");
	cr_assert_eq(fx_openat(fx.t, AT_FDCWD, path, O_RDONLY, 0),
		     -ENOENT);
}

Test(syscall, enoent_is_the_syscall_result_not_a_call_failure)
{
	struct tether_call c = { .nr = SYS_openat, .nargs = 3 };

	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR("/nonexistent/x");
	c.args[2] = TETHER_INT(O_RDONLY);
	cr_assert_eq(tether_call(fx.t, &c), 0);
	cr_assert_eq(c.ret, -ENOENT);
}

Test(syscall, ebadf_from_close)
{
	cr_assert_eq(fx_close(fx.t, 9999), -EBADF);
}

Test(syscall, einval_from_lseek)
{
	int fd = srv_file("e.txt", hello, 6, O_RDONLY);

	cr_assert_eq(fx_lseek(fx.t, fd, 0, 12345), -EINVAL);
}

Test(syscall, efault_from_a_raw_bad_pointer)
{
	/* A raw address as an int is the caller's business: the kernel
	 * answers EFAULT, the server goes on. */
	struct tether_call c = { .nr = SYS_fstat, .nargs = 2 };

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(16);
	run(&c);
	cr_assert_eq(c.ret, -EFAULT);
	still_serving();
}

/* KNOWN BUG under --enable-sanitizers (library, call.c): for a zero
 * length out buffer given as NULL, tl_call_unpack() does
 * memcpy(NULL, p, 0); UBSan aborts. */
Test(syscall, zero_length_out_buffer_is_not_efault,
     .description = "UBSan: memcpy to NULL in tl_call_unpack")
{
	struct tether_call c = { .nr = SYS_read, .nargs = 3 };

	c.args[0] = TETHER_INT(srv_file("z.txt", hello, 6, O_RDONLY));
	c.args[1] = TETHER_OUT(NULL, 0);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_eq(c.ret, 0);
	cr_assert_eq(c.args[1].returned, 0);
}

Test(syscall, zero_length_in_buffer_is_not_efault)
{
	int p[2];
	struct tether_call c = { .nr = SYS_write, .nargs = 3 };

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	c.args[0] = TETHER_INT(p[1]);
	c.args[1] = TETHER_IN(NULL, 0);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_eq(c.ret, 0);
}

Test(syscall, unknown_syscall_number_is_enosys)
{
	struct tether_call c = { .nr = 4000, .nargs = 0 };

	run(&c);
	cr_assert_eq(c.ret, -ENOSYS);
}

/* ---- refused syscalls ------------------------------------------------ */

Test(syscall, exit_group_refused)
{
	refused(SYS_exit_group, 1);
}

Test(syscall, exit_refused)
{
	refused(SYS_exit, 1);
}

Test(syscall, execve_refused)
{
	refused(SYS_execve, 3);
}

#ifdef SYS_fork
Test(syscall, fork_refused)
{
	refused(SYS_fork, 0);
}
#endif

Test(syscall, clone_refused)
{
	refused(SYS_clone, 5);
}

Test(syscall, clone3_refused)
{
	refused(SYS_clone3, 2);
}

/* ---- internal fds ---------------------------------------------------- */

Test(syscall, close_syscall_socket_is_ebadf)
{
	int sfd = tether_info(fx.t)->syscall_fd;

	cr_assert_geq(sfd, 3);
	cr_assert_eq(fx_close(fx.t, sfd), -EBADF);
	still_serving();
}

Test(syscall, close_data_socket_is_ebadf)
{
	int dfd = tether_info(fx.t)->data_fd;

	cr_assert_geq(dfd, 3);
	cr_assert_neq(dfd, tether_info(fx.t)->syscall_fd);
	cr_assert_eq(fx_close(fx.t, dfd), -EBADF);
	still_serving();
}

#ifdef SYS_dup2
Test(syscall, dup2_onto_internal_fd_is_ebadf)
{
	struct tether_call c = { .nr = SYS_dup2, .nargs = 2 };

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(tether_info(fx.t)->syscall_fd);
	run(&c);
	cr_assert_eq(c.ret, -EBADF);
	still_serving();
}
#endif

Test(syscall, dup3_onto_internal_fd_is_ebadf)
{
	cr_assert_eq(fx_dup3(fx.t, 0, tether_info(fx.t)->syscall_fd, 0),
		     -EBADF);
	still_serving();
}

Test(syscall, read_from_internal_fd_is_ebadf)
{
	char buf[8];

	cr_assert_eq(fx_read(fx.t, tether_info(fx.t)->syscall_fd, buf,
				 sizeof(buf)),
		     -EBADF);
	still_serving();
}

Test(syscall, close_range_keeps_the_connection)
{
	int p[2];
	struct tether_call c = { .nr = SYS_close_range, .nargs = 3 };
	struct tether_status st;

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_geq(srv_file("cr.txt", hello, 6, O_RDONLY), 3);
	c.args[0] = TETHER_INT(3);
	c.args[1] = TETHER_INT(~0U);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_eq(c.ret, 0, "close_range: %s", strerror((int)-c.ret));
	cr_assert_eq(fx_close(fx.t, p[0]), -EBADF);
	cr_assert_eq(fx_close(fx.t, p[1]), -EBADF);
	still_serving();
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(st.nfds, 3, "only 0, 1, 2 left, got %u", st.nfds);
	/* and a new controller can still attach afterwards */
	cr_assert_eq(fx_reattach(), 0);
	still_serving();
}

Test(syscall, close_range_cloexec_spares_internal_fds)
{
	struct tether_call c = { .nr = SYS_close_range, .nargs = 3 };

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(~0U);
	c.args[2] = TETHER_INT(4);	/* CLOSE_RANGE_CLOEXEC */
	run(&c);
	cr_assert_eq(c.ret, 0);
	still_serving();
}

Test(syscall, close_range_inverted_is_einval)
{
	struct tether_call c = { .nr = SYS_close_range, .nargs = 3 };

	c.args[0] = TETHER_INT(10);
	c.args[1] = TETHER_INT(5);
	c.args[2] = TETHER_INT(0);
	run(&c);
	cr_assert_eq(c.ret, -EINVAL);
}

/* ---- typed helpers --------------------------------------------------- */

/* Regression (sanitizer builds): fx_syscall() did
 * memcpy(c.args, NULL, 0) for nargs == 0, which UBSan
 * (-fno-sanitize-recover) aborts on: fx_getpid() crashed. */
Test(helpers, getpid_is_the_server)
{
	cr_assert_eq(fx_getpid(fx.t), fx.pid);
	cr_assert_neq(fx.pid, getpid());
}

Test(helpers, syscall_with_no_args)
{
	cr_assert_eq(fx_syscall(fx.t, SYS_getppid, 0, NULL), getpid());
}

Test(helpers, openat_write_lseek_read_close)
{
	char path[128], buf[32] = "";
	int fd;

	fx_path(path, sizeof(path), "rw.txt");
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDWR | O_CREAT | O_EXCL,
			   0600);
	cr_assert_geq(fd, 0, "%s", strerror(-fd));
	cr_assert_eq(fx_write(fx.t, fd, "0123456789", 10), 10);
	cr_assert_eq(fx_lseek(fx.t, fd, 0, SEEK_END), 10);
	cr_assert_eq(fx_lseek(fx.t, fd, 4, SEEK_SET), 4);
	cr_assert_eq(fx_read(fx.t, fd, buf, sizeof(buf)), 6);
	cr_assert_str_eq(buf, "456789");
	cr_assert_eq(fx_close(fx.t, fd), 0);
	cr_assert_eq(fx_close(fx.t, fd), -EBADF);
}

Test(helpers, openat_mode_is_applied)
{
	char path[128];
	struct stat st;
	mode_t mask = umask(0);		/* the server inherited ours */
	int fd;

	umask(mask);
	fx_path(path, sizeof(path), "mode.txt");
	fd = fx_openat(fx.t, AT_FDCWD, path, O_WRONLY | O_CREAT, 0640);
	cr_assert_geq(fd, 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0640 & ~mask);
}

Test(helpers, pipe2_round_trip)
{
	int p[2] = { -1, -1 };
	char buf[8] = "";

	cr_assert_eq(fx_pipe2(fx.t, p, O_CLOEXEC | O_NONBLOCK), 0);
	cr_assert_eq(fx_read(fx.t, p[0], buf, sizeof(buf)), -EAGAIN);
	cr_assert_eq(fx_write(fx.t, p[1], "ping", 4), 4);
	cr_assert_eq(fx_read(fx.t, p[0], buf, sizeof(buf)), 4);
	cr_assert_eq(memcmp(buf, "ping", 4), 0);
}

Test(helpers, pipe2_bad_flags_is_einval)
{
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, 0x7fffffff), -EINVAL);
}

Test(helpers, dup3_to_chosen_fd)
{
	int p[2];
	char buf[8] = "";

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(fx_dup3(fx.t, p[1], 100, O_CLOEXEC), 100);
	cr_assert_eq(fx_write(fx.t, 100, "dup", 3), 3);
	cr_assert_eq(fx_read(fx.t, p[0], buf, sizeof(buf)), 3);
	cr_assert_eq(memcmp(buf, "dup", 3), 0);
	cr_assert_eq(fx_dup3(fx.t, 100, 100, 0), -EINVAL);
}

Test(helpers, lseek_on_pipe_is_espipe)
{
	int p[2];

	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(fx_lseek(fx.t, p[0], 0, SEEK_SET), -ESPIPE);
}

Test(helpers, status_describes_us)
{
	struct tether_status st;

	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(st.pid, fx.pid);
	cr_assert(st.attached);
	cr_assert_eq(st.controller_pid, getpid());
	cr_assert_not(st.persistent, "a started server dies with us");
	cr_assert_geq(st.generation, 1);
	cr_assert_geq(st.ninternal, 4);
	cr_assert_geq(st.nfds, 3);
}

Test(helpers, info_after_attach)
{
	const struct tether_status *i = tether_info(fx.t);

	cr_assert_eq(i->pid, fx.pid);
	cr_assert_geq(i->syscall_fd, 3);
	cr_assert_geq(i->data_fd, 3);
	cr_assert_not(i->observer);
	cr_assert(i->attached);
	cr_assert_geq(tether_data_fd(fx.t), 0);
}

Test(helpers, make_persistent_shows_in_status)
{
	struct tether_status st;

	cr_assert_eq(tether_make_persistent(fx.t), 0);
	cr_assert(tether_info(fx.t)->persistent);
	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert(st.persistent);
	/* twice is fine */
	cr_assert_eq(tether_make_persistent(fx.t), 0);
}

Test(helpers, nfds_counts_controller_fds)
{
	struct tether_status a, b;
	int p[2];

	cr_assert_eq(tether_status(fx.t, &a), 0);
	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	cr_assert_eq(tether_status(fx.t, &b), 0);
	cr_assert_eq(b.nfds, a.nfds + 2);
	cr_assert_eq(b.ninternal, a.ninternal);
}

/* ---- tether_call error paths ------------------------------------------ */

/* Big buffers go by the data socket, up to 256 MiB each. */
Test(callerr, out_buffer_over_data_max_is_e2big)
{
	size_t n = (256u << 20) + 1;
	char *buf = malloc(n);		/* never touched: refused first */
	struct tether_call c = { .nr = SYS_read, .nargs = 3 };
	int rc;

	cr_assert_not_null(buf);
	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_OUT(buf, n);
	c.args[2] = TETHER_INT(n);
	rc = tether_call(fx.t, &c);
	cr_assert_eq(rc, -E2BIG);
	cr_assert(strstr(tether_last_error(fx.t), "exceeds"), "'%s'",
		  tether_last_error(fx.t));
	free(buf);
	still_serving();
}

/* Only the first big out buffer takes the data socket; the others stay
 * in the frame, where together they may not pass TETHER_BUF_MAX. */
Test(callerr, inline_buffers_together_over_buf_max_is_e2big)
{
	size_t n = TETHER_BUF_MAX / 2 + 1;
	char *a = malloc(n), *b = malloc(n), *d = malloc(n);
	struct tether_call c = { .nr = SYS_getpid, .nargs = 3 };

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_not_null(d);
	c.args[0] = TETHER_OUT(a, n);
	c.args[1] = TETHER_OUT(b, n);
	c.args[2] = TETHER_OUT(d, n);
	cr_assert_eq(tether_call(fx.t, &c), -E2BIG);
	cr_assert_neq(tether_last_error(fx.t)[0], '\0');
	free(a);
	free(b);
	free(d);
	still_serving();
}

Test(callerr, inout_capacity_over_buf_max_is_e2big)
{
	size_t n = TETHER_BUF_MAX + 1;
	char *buf = calloc(1, n);
	struct tether_call c = { .nr = SYS_getpid, .nargs = 1 };

	cr_assert_not_null(buf);
	c.args[0] = TETHER_INOUT(buf, 4, n);
	cr_assert_eq(tether_call(fx.t, &c), -E2BIG);
	free(buf);
	still_serving();
}

/* ASYNC keeps every buffer in the frame: past the frame, EMSGSIZE. */
Test(callerr, async_in_buffer_over_frame_is_emsgsize)
{
	size_t n = TETHER_FRAME_MAX + 1;
	char *buf = calloc(1, n);
	struct tether_call c = { .nr = SYS_write, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	int p[2];

	cr_assert_not_null(buf);
	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	c.args[0] = TETHER_INT(p[1]);
	c.args[1] = TETHER_IN(buf, n);
	c.args[2] = TETHER_INT(n);
	cr_assert_eq(tether_call(fx.t, &c), -EMSGSIZE);
	cr_assert(strstr(tether_last_error(fx.t), "too large"), "'%s'",
		  tether_last_error(fx.t));
	free(buf);
	still_serving();
}

/* ASYNC, inside a frame but over the per-call limit: E2BIG. */
Test(callerr, async_in_buffer_over_buf_max_is_e2big)
{
	size_t n = TETHER_BUF_MAX + 1;
	char *buf = calloc(1, n);
	struct tether_call c = { .nr = SYS_write, .nargs = 3,
				 .flags = TETHER_CALL_ASYNC };
	int p[2];

	cr_assert_not_null(buf);
	cr_assert_eq(fx_pipe2(fx.t, p, 0), 0);
	c.args[0] = TETHER_INT(p[1]);
	c.args[1] = TETHER_IN(buf, n);
	c.args[2] = TETHER_INT(n);
	cr_assert_eq(tether_call(fx.t, &c), -E2BIG);
	free(buf);
	still_serving();
}

/* A write and a read of 3 MiB: more than a frame, by the data socket. */
Test(callerr, big_buffers_go_by_the_data_socket)
{
	size_t n = 3u << 20;
	char *in = malloc(n), *out = calloc(1, n);
	char path[128];
	int fd;

	cr_assert_not_null(in);
	cr_assert_not_null(out);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)(i * 31 + 7);
	fx_path(path, sizeof(path), "big");
	fd = fx_openat(fx.t, AT_FDCWD, path, O_RDWR | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fx_write(fx.t, fd, in, n), (ssize_t)n);
	cr_assert_eq(fx_lseek(fx.t, fd, 0, SEEK_SET), 0);
	cr_assert_eq(fx_read(fx.t, fd, out, n), (ssize_t)n);
	cr_assert_eq(memcmp(in, out, n), 0);
	cr_assert_eq(fx_close(fx.t, fd), 0);
	free(in);
	free(out);
	still_serving();
}

Test(callerr, seven_args_is_e2big)
{
	struct tether_call c = { .nr = SYS_getpid, .nargs = 7 };
	struct tether_arg a[7];

	cr_assert_eq(tether_call(fx.t, &c), -E2BIG);
	cr_assert(strstr(tether_last_error(fx.t), "at most 6"), "'%s'",
		  tether_last_error(fx.t));
	for (int i = 0; i < 7; i++)
		a[i] = TETHER_INT(0);
	cr_assert_eq(fx_syscall(fx.t, SYS_getpid, 7, a), -E2BIG);
	still_serving();
}

Test(callerr, six_args_is_fine)
{
	struct tether_call c = { .nr = SYS_mmap, .nargs = 6 };

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(4096);
	c.args[2] = TETHER_INT(PROT_NONE);
	c.args[3] = TETHER_INT(MAP_PRIVATE | MAP_ANONYMOUS);
	c.args[4] = TETHER_INT(-1);
	c.args[5] = TETHER_INT(0);
	run(&c);
	cr_assert_gt(c.ret, 0, "mmap: %ld", c.ret);
}

/* The table's arity, checked by the server too: extras are not
 * silently ignored, missing ones not silently 0. */
Test(callerr, wrong_argument_count_is_einval)
{
	struct tether_call c = { .nr = SYS_getpid, .nargs = 3 };

	for (int i = 0; i < 3; i++)
		c.args[i] = TETHER_INT(1);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	cr_assert(strstr(tether_last_error(fx.t), "getpid takes 0 arguments"),
		  "'%s'", tether_last_error(fx.t));
	c = (struct tether_call){ .nr = SYS_read, .nargs = 1 };
	c.args[0] = TETHER_INT(0);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	cr_assert(strstr(tether_last_error(fx.t), "read takes 3 arguments"),
		  "'%s'", tether_last_error(fx.t));
	still_serving();
}

Test(callerr, in_buffer_null_pointer_is_einval)
{
	struct tether_call c = { .nr = SYS_write, .nargs = 3 };

	c.args[0] = TETHER_INT(1);
	c.args[1] = TETHER_IN(NULL, 5);
	c.args[2] = TETHER_INT(5);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	cr_assert(strstr(tether_last_error(fx.t), "argument 1"), "'%s'",
		  tether_last_error(fx.t));
	still_serving();
}

Test(callerr, out_buffer_null_pointer_is_einval)
{
	struct tether_call c = { .nr = SYS_read, .nargs = 3 };

	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_OUT(NULL, 5);
	c.args[2] = TETHER_INT(5);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	still_serving();
}

Test(callerr, inout_capacity_below_size_is_einval)
{
	char buf[8] = "";
	struct tether_call c = { .nr = SYS_getpid, .nargs = 1 };

	c.args[0] = TETHER_INOUT(buf, 8, 4);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	still_serving();
}

Test(callerr, str_null_is_einval)
{
	struct tether_call c = { .nr = SYS_openat, .nargs = 2 };

	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR(NULL);
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	still_serving();
}

Test(callerr, unknown_arg_kind_is_einval)
{
	struct tether_call c = { .nr = SYS_getpid, .nargs = 1 };

	c.args[0].kind = (enum tether_arg_kind)99;
	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	still_serving();
}

Test(callerr, negative_syscall_number_is_einval)
{
	struct tether_call c = { .nr = -1, .nargs = 0 };

	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	cr_assert(strstr(tether_last_error(fx.t), "syscall number"), "'%s'",
		  tether_last_error(fx.t));
	still_serving();
}

Test(callerr, huge_syscall_number_is_einval)
{
	struct tether_call c = { .nr = 5000, .nargs = 0 };

	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	still_serving();
}

Test(callerr, calls_after_shutdown_fail)
{
	long rc;

	cr_assert_eq(tether_shutdown(fx.t), 0);
	cr_assert(fx_gone(fx.pid));
	rc = fx_getpid(fx.t);
	cr_assert(rc == -ECONNRESET || rc == -EPIPE, "got %ld", rc);
	cr_assert_neq(tether_last_error(fx.t)[0], '\0');
}

Test(callerr, last_error_cleared_by_success)
{
	struct tether_call c = { .nr = -1, .nargs = 0 };

	cr_assert_eq(tether_call(fx.t, &c), -EINVAL);
	cr_assert_neq(tether_last_error(fx.t)[0], '\0');
	still_serving();
	cr_assert_str_eq(tether_last_error(fx.t), "");
}

/* ---- starting and connecting ------------------------------------------- */

Test(lib, start_bad_tetherd_path_is_enoent)
{
	struct tether_start_opts o = { .socket_path = fx.sock,
				       .tetherd = "/nonexistent/tetherd" };
	struct tether *t = (struct tether *)1;

	cr_assert_eq(tether_start(&o, &t), -ENOENT);
	cr_assert_null(t);
	cr_assert(strstr(tether_last_error(NULL), "/nonexistent/tetherd"),
		  "'%s'", tether_last_error(NULL));
	cr_assert(strstr(tether_last_error(NULL), "No such file"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, start_null_opts_uses_environment)
{
	struct tether *t = NULL;
	struct stat st;
	int rc;

	setenv("TETHER_SOCKET", fx.sock, 1);
	setenv("TETHERD", fx_tetherd(), 1);
	rc = tether_start(NULL, &t);
	cr_assert_eq(rc, 0, "%s (%s)", strerror(-rc), tether_last_error(NULL));
	fx_track(tether_info(t)->pid);
	cr_assert_eq(stat(fx.sock, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(fx_getpid(t), tether_info(t)->pid);
	tether_disconnect(t);
}

Test(lib, start_not_executable_is_eacces)
{
	char exe[128];
	struct tether_start_opts o = { .socket_path = fx.sock, .tetherd = exe };
	struct tether *t;

	fx_path(exe, sizeof(exe), "not-exec");
	fx_write_file(exe, "#!/bin/sh\n", 10);
	chmod(exe, 0644);
	cr_assert_eq(tether_start(&o, &t), -EACCES);
	cr_assert(strstr(tether_last_error(NULL), "cannot execute"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, start_program_that_never_reports_is_echild)
{
	struct tether_start_opts o = { .socket_path = fx.sock,
				       .tetherd = "/bin/true" };
	struct tether *t;

	cr_assert_eq(tether_start(&o, &t), -ECHILD);
	cr_assert(strstr(tether_last_error(NULL), "exited"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, start_bad_tetherd_option_is_echild)
{
	const char *extra[] = { "--no-such-option", NULL };
	struct tether_start_opts o = { .socket_path = fx.sock,
				       .tetherd = fx_tetherd(),
				       .extra_args = extra };
	struct tether *t;

	cr_assert_eq(tether_start(&o, &t), -ECHILD);
}

Test(lib, start_socket_path_too_long)
{
	char path[200];
	struct tether *t;

	memset(path, 'p', sizeof(path));
	memcpy(path, fx.dir, strlen(fx.dir));
	path[strlen(fx.dir)] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(fx_start(path, NULL, &t), -ENAMETOOLONG);
	cr_assert(strstr(tether_last_error(NULL), "too long"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, start_too_many_args_is_e2big)
{
	const char *extra[80];
	struct tether *t;

	for (int i = 0; i < 79; i++)
		extra[i] = "-u0";
	extra[79] = NULL;
	cr_assert_eq(fx_start(fx.sock, extra, &t), -E2BIG);
}

Test(lib, start_socket_in_a_file_is_enotdir)
{
	char file[128], sock[160];
	struct tether *t;

	fx_path(file, sizeof(file), "plain");
	fx_write_file(file, "", 0);
	snprintf(sock, sizeof(sock), "%s/s.sock", file);
	cr_assert_eq(fx_start(sock, NULL, &t), -ENOTDIR);
}

Test(lib, connect_nonexistent_socket_is_econnrefused)
{
	char path[128];
	struct tether *t = (struct tether *)1;

	fx_path(path, sizeof(path), "nobody.sock");
	cr_assert_eq(tether_connect(path, 0, &t), -ECONNREFUSED);
	cr_assert_null(t);
	cr_assert(strstr(tether_last_error(NULL), "no tetherd at"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, connect_dead_socket_is_econnrefused)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct tether *t;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

	strcpy(sa.sun_path, fx.sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);		/* the file stays, nobody listens */
	cr_assert_eq(tether_connect(fx.sock, 0, &t), -ECONNREFUSED);
}

Test(lib, connect_path_too_long)
{
	char path[200];
	struct tether *t;

	memset(path, 'x', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	cr_assert_eq(tether_connect(path, 0, &t), -ENAMETOOLONG);
}

Test(lib, connect_unknown_flags_is_einval)
{
	struct tether *t;

	cr_assert_eq(tether_connect(fx.sock, 0x100, &t), -EINVAL);
	cr_assert_null(t);
}

Test(lib, connect_default_socket_from_environment)
{
	struct tether *t, *u;

	cr_assert_eq(fx_start(fx.sock, NULL, &t), 0);
	setenv("TETHER_SOCKET", fx.sock, 1);
	cr_assert_eq(tether_connect(NULL, TETHER_CONNECT_OBSERVE, &u), 0);
	cr_assert_eq(tether_info(u)->pid, tether_info(t)->pid);
	cr_assert(tether_info(u)->observer);
	tether_disconnect(u);
	tether_disconnect(t);
}

/* A fake server on fx.sock: accepts one connection and answers it with
 * reply (reply_len bytes, none if 0), then closes.  Returns its pid. */
static pid_t fake_server(const void *reply, size_t reply_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	pid_t pid;

	strcpy(sa.sun_path, fx.sock);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char buf[4096];
		int c;

		fx_forked();
		c = accept(fd, NULL, NULL);

		if (c >= 0 && recv(c, buf, sizeof(buf), 0) >= 0 && reply_len)
			send(c, reply, reply_len, MSG_NOSIGNAL);
		_exit(0);
	}
	close(fd);
	fx_track(pid);
	return pid;
}

Test(lib, connect_peer_closes_without_answer)
{
	struct tether *t;

	fake_server(NULL, 0);
	cr_assert_eq(tether_connect(fx.sock, 0, &t), -ECONNRESET);
	cr_assert(strstr(tether_last_error(NULL), "without answer"), "'%s'",
		  tether_last_error(NULL));
}

Test(lib, connect_garbage_answer_is_eproto)
{
	static const unsigned char junk[] = { 0, 0, 0, 1, 0xc1 };
	struct tether *t;

	fake_server(junk, sizeof(junk));
	cr_assert_eq(tether_connect(fx.sock, 0, &t), -EPROTO);
}

Test(lib, connect_refusal_code_and_text_passed_on)
{
	struct tp_msg m;
	struct tether *t;

	tp_msg_init(&m);
	cr_assert_eq(tp_msg_error(&m, 1, EDQUOT, "fake says no"), 0);
	fake_server(tp_msg_data(&m), tp_msg_size(&m));
	tp_msg_destroy(&m);
	cr_assert_eq(tether_connect(fx.sock, 0, &t), -EDQUOT);
	cr_assert_str_eq(tether_last_error(NULL), "fake says no");
}

Test(lib, default_socket_honours_environment)
{
	char buf[128];

	setenv("TETHER_SOCKET", "/tmp/x/y.sock", 1);
	cr_assert_eq(tether_default_socket(buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/tmp/x/y.sock");
	cr_assert_eq(tether_default_socket(buf, 4), -ENAMETOOLONG);
}

Test(lib, disconnect_null_is_harmless)
{
	tether_disconnect(NULL);
}

/* ---- the fd count (server/fds/fdcount.c) ------------------------------- */

/* STATUS's nfds is what LIST_FDS lists of the controller's fds. */
static unsigned nfds_checked(const char *after)
{
	struct tether_fdinfo *v = NULL;
	struct tether_status st;
	unsigned listed = 0;
	size_t n = 0;

	cr_assert_eq(tether_status(fx.t, &st), 0);
	cr_assert_eq(tether_list_fds(fx.t, &v, &n, NULL, NULL), 0);
	for (size_t i = 0; i < n; i++)
		listed += !v[i].internal;
	free(v);
	cr_assert_eq(st.nfds, listed, "after %s: nfds %u, LIST_FDS %u", after,
		     st.nfds, listed);
	return st.nfds;
}

/* Each kind of call moves the kept count as it moves the fd table: the
 * ones that open, close, leave alone, fail, that move it by what their
 * arguments say (socketpair, fcntl by command), or do what only a
 * recount can tell (dup3 onto an open fd), inline and through a
 * helper, asynchronously too. */
Test(syscall, the_fd_count_follows_every_kind_of_call)
{
	struct tether_call c = { .nr = SYS_openat, .nargs = 4,
				 .flags = TETHER_CALL_ASYNC };
	unsigned base = nfds_checked("attach");
	long a, b, d, s;
	int pair[2];
	char buf[8];

	a = fx_openat(fx.t, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	b = fx_openat(fx.t, AT_FDCWD, "/dev/zero", O_RDONLY, 0);
	cr_assert(a >= 0 && b >= 0);
	cr_assert_eq(nfds_checked("two openat"), base + 2);
	cr_assert_eq(fx_read(fx.t, (int)b, buf, sizeof(buf)), sizeof(buf));
	cr_assert_eq(fx_syscall(fx.t, SYS_getpid, 0, NULL), fx.pid);
	cr_assert_lt(fx_openat(fx.t, AT_FDCWD, "/nonexistent", O_RDONLY, 0), 0);
	cr_assert_eq(nfds_checked("read, getpid, a failed openat"), base + 2);
	d = fx_syscall(fx.t, SYS_dup, 1, (struct tether_arg[]){ TETHER_INT(a) });
	s = fx_syscall(fx.t, SYS_socket, 3, (struct tether_arg[]){
			TETHER_INT(AF_UNIX), TETHER_INT(SOCK_STREAM),
			TETHER_INT(0) });
	cr_assert(d >= 0 && s >= 0);
	cr_assert_eq(nfds_checked("dup, socket"), base + 4);
	/* onto an open fd: one fewer, then as many */
	cr_assert_eq(fx_syscall(fx.t, SYS_dup3, 3, (struct tether_arg[]){
			TETHER_INT(a), TETHER_INT(d), TETHER_INT(0) }), d);
	cr_assert_eq(nfds_checked("dup3 onto an open fd"), base + 4);
	cr_assert_eq(fx_syscall(fx.t, SYS_socketpair, 4, (struct tether_arg[]){
			TETHER_INT(AF_UNIX), TETHER_INT(SOCK_STREAM),
			TETHER_INT(0), TETHER_OUT(pair, sizeof(pair)) }), 0);
	cr_assert_eq(nfds_checked("socketpair"), base + 6);
	cr_assert_eq(fx_syscall(fx.t, SYS_pipe2, 2, (struct tether_arg[]){
			TETHER_OUT(pair, sizeof(pair)),
			TETHER_INT(O_CLOEXEC) }), 0);
	cr_assert_eq(nfds_checked("pipe2"), base + 8);
	cr_assert_geq(fx_syscall(fx.t, SYS_fcntl, 3, (struct tether_arg[]){
			TETHER_INT(a), TETHER_INT(F_DUPFD_CLOEXEC),
			TETHER_INT(100) }), 100);
	cr_assert_eq(nfds_checked("fcntl F_DUPFD"), base + 9);
	cr_assert_geq(fx_syscall(fx.t, SYS_fcntl, 2, (struct tether_arg[]){
			TETHER_INT(a), TETHER_INT(F_GETFL) }), 0);
	cr_assert_eq(fx_syscall(fx.t, SYS_fcntl, 3, (struct tether_arg[]){
			TETHER_INT(99999), TETHER_INT(F_DUPFD), TETHER_INT(0) }),
		     -EBADF);
	cr_assert_eq(nfds_checked("fcntl F_GETFL, a failed F_DUPFD"), base + 9);
	cr_assert_eq(fx_close(fx.t, (int)b), 0);
	cr_assert_eq(fx_close(fx.t, (int)b), -EBADF);
	cr_assert_eq(nfds_checked("close, close again"), base + 8);
	/* asynchronously: off the loop, collected later */
	c.args[0] = TETHER_INT(AT_FDCWD);
	c.args[1] = TETHER_STR("/dev/null");
	c.args[2] = TETHER_INT(O_RDONLY);
	c.args[3] = TETHER_INT(0);
	cr_assert_eq(tether_call(fx.t, &c), 0, "%s", tether_last_error(fx.t));
	cr_assert_eq(tether_collect(fx.t, c.async_id, -1, &c), 0, "%s",
		     tether_last_error(fx.t));
	cr_assert_geq(c.ret, 0);
	cr_assert_eq(nfds_checked("an async openat"), base + 9);
}

/* Lowering tetherd's own RLIMIT_NOFILE below what its fds need would
 * keep every later controller out (accept and the HELLO find no number
 * under the limit); the call is refused, a limit above it is not, and
 * a worker's (another pid) is not tetherd's.  The server's limit after
 * all this is what it was, and a new controller attaches. */
Test(syscall, lowering_tetherds_nofile_below_its_need_is_refused)
{
	struct rlimit now, low = { 10, 10 }, got;
	struct tether_call c = { .nr = SYS_prlimit64, .nargs = 4 };
	struct tether *t = NULL;
	long ret;

	cr_assert_eq(prlimit(fx.pid, RLIMIT_NOFILE, NULL, &now), 0);
	low.rlim_max = now.rlim_max;
	c.args[0] = TETHER_INT(0);
	c.args[1] = TETHER_INT(RLIMIT_NOFILE);
	c.args[2] = TETHER_IN(&low, sizeof(low));
	c.args[3] = TETHER_INT(0);
	cr_assert_eq(tether_call(fx.t, &c), -EPERM);
	cr_assert(strstr(tether_last_error(fx.t), "RLIMIT_NOFILE below"),
		  "%s", tether_last_error(fx.t));
	c.args[0] = TETHER_INT(fx.pid);
	cr_assert_eq(tether_call(fx.t, &c), -EPERM);
	c.nr = SYS_setrlimit;
	c.nargs = 2;
	c.args[0] = TETHER_INT(RLIMIT_NOFILE);
	c.args[1] = TETHER_IN(&low, sizeof(low));
	cr_assert_eq(tether_call(fx.t, &c), -EPERM);
	/* a bare address: tetherd cannot read what it would set */
	c.args[1] = TETHER_INT(4096);
	cr_assert_eq(tether_call(fx.t, &c), -EPERM);
	cr_assert(strstr(tether_last_error(fx.t), "in buffer"));
	/* above the need: allowed, and put back */
	got = (struct rlimit){ 3000, now.rlim_max };
	c.args[1] = TETHER_IN(&got, sizeof(got));
	cr_assert_eq(tether_call(fx.t, &c), 0);
	cr_assert_eq(c.ret, 0);
	c.args[1] = TETHER_IN(&now, sizeof(now));
	cr_assert_eq(tether_call(fx.t, &c), 0);
	cr_assert_eq(prlimit(fx.pid, RLIMIT_NOFILE, NULL, &got), 0);
	cr_assert_eq(got.rlim_cur, now.rlim_cur);
	/* a query changes nothing and is not refused */
	cr_assert_eq(tether_syscall(fx.t, SYS_prlimit64, 4,
				    (struct tether_arg[]){
					    TETHER_INT(0),
					    TETHER_INT(RLIMIT_NOFILE),
					    TETHER_INT(0),
					    TETHER_OUT(&got, sizeof(got)) },
				    &ret), 0);
	cr_assert_eq(ret, 0);
	cr_assert_eq(got.rlim_cur, now.rlim_cur);
	still_serving();
	cr_assert_eq(tether_connect(fx.sock, TETHER_CONNECT_OBSERVE, &t), 0);
	tether_disconnect(t);
}
