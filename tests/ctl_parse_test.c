/*
 * tetherctl's `call` argument parser, result printer and word splitter.
 * No server: results are filled in by hand as libtether would.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <seccomp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_kit.h"

/* ---- helpers ------------------------------------------------------ */

/* The tokens of a `call` line as a shell would hand them over after its
 * own quoting: these tests write them blank-separated, a quoted token
 * ("str", 'bytes', @8:'a b') running to its closing quote. */
static int test_tokens(const char *line, char **argv, int max)
{
	int argc = 0;

	while (*line) {
		const char *s;
		char q = 0;

		while (*line == ' ')
			line++;
		if (!*line)
			break;
		for (s = line; *s && (q || *s != ' '); s++) {
			if (*s == '\\' && s[1])
				s++;
			else if (q && *s == q)
				q = 0;
			else if (!q && (*s == '"' || *s == '\''))
				q = *s;
		}
		cr_assert_lt(argc, max - 1, "too many tokens: %s", line);
		argv[argc++] = strndup(line, (size_t)(s - line));
		line = s;
	}
	argv[argc] = NULL;
	return argc;
}

/* Tokens of line, parsed as `call` arguments.  The tokens go away; the
 * spec must not point into them. */
static int parse_line(const char *line, struct ctl_callspec *cs, char *err,
		      size_t errsz)
{
	char *argv[64];
	int argc, rc;

	argc = test_tokens(line, argv, 64);
	rc = ctl_call_parse(argc, argv, cs, err, errsz);
	for (int i = 0; i < argc; i++)
		free(argv[i]);
	return rc;
}

/* Parse and expect success. */
static void parse_ok(const char *line, struct ctl_callspec *cs)
{
	char err[256];
	int rc = parse_line(line, cs, err, sizeof(err));

	cr_assert_eq(rc, 0, "parse \"%s\": %d (%s)", line, rc, err);
}

/* Parse, expect failure rc with a message containing msg. */
static void parse_fails(const char *line, int want, const char *msg)
{
	struct ctl_callspec cs;
	char err[256];
	int rc = parse_line(line, &cs, err, sizeof(err));

	cr_assert_eq(rc, want, "parse \"%s\": %d, wanted %d (%s)", line, rc,
		     want, err);
	cr_assert_neq(err[0], '\0', "no message for \"%s\"", line);
	cr_assert(strchr(err, '\n') == NULL, "message is one line: %s", err);
	if (msg)
		cr_assert(strstr(err, msg), "message \"%s\" lacks \"%s\"", err,
			  msg);
	/* a failed parse leaves nothing to free, and freeing is harmless */
	cr_assert_eq(cs.call.nargs, 0);
	for (int i = 0; i < 6; i++)
		cr_assert(!cs.bufs[i] && !cs.text[i]);
	ctl_callspec_free(&cs);
}

/* Like parse_fails, for one token given straight to the parser: tokens
 * the splitter refuses (unbalanced quotes) must be caught here too. */
static void arg_fails(const char *tok, int want, const char *msg)
{
	char *argv[] = { strdup("getpid"), strdup(tok) };
	struct ctl_callspec cs;
	char err[256];
	int rc;

	cr_assert(argv[0] && argv[1]);
	rc = ctl_call_parse(2, argv, &cs, err, sizeof(err));
	cr_assert_eq(rc, want, "parse %s: %d, wanted %d (%s)", tok, rc, want,
		     err);
	if (msg)
		cr_assert(strstr(err, msg), "message \"%s\" lacks \"%s\"", err,
			  msg);
	cr_assert_null(cs.text[0]);
	free(argv[0]);
	free(argv[1]);
}

/* The single argument of `getpid ARG` (any syscall would do). */
static struct tether_arg one_arg(const char *arg, struct ctl_callspec *cs)
{
	char line[8192];

	snprintf(line, sizeof(line), "getpid %s", arg);
	parse_ok(line, cs);
	cr_assert_eq(cs->call.nargs, 1);
	return cs->call.args[0];
}

static uint64_t int_value(const char *arg)
{
	struct ctl_callspec cs;
	struct tether_arg a = one_arg(arg, &cs);

	cr_assert_eq(a.kind, TETHER_ARG_INT, "%s is not an int", arg);
	ctl_callspec_free(&cs);
	return a.value;
}

/* ---- syscall names ------------------------------------------------ */

Test(parse_name, known_name)
{
	struct ctl_callspec cs;

	parse_ok("openat AT_FDCWD \"/etc/hostname\" O_RDONLY", &cs);
	cr_assert_str_eq(cs.name, "openat");
	cr_assert_eq(cs.call.nr, SYS_openat);
	cr_assert_eq(cs.call.nargs, 3);
	cr_assert_eq(cs.call.flags, 0);
	ctl_callspec_free(&cs);
}

Test(parse_name, no_args)
{
	struct ctl_callspec cs;

	parse_ok("getpid", &cs);
	cr_assert_eq(cs.call.nr, SYS_getpid);
	cr_assert_eq(cs.call.nargs, 0);
	ctl_callspec_free(&cs);
}

Test(parse_name, raw_number_gets_name)
{
	struct ctl_callspec cs;

	parse_ok("39", &cs);
	cr_assert_eq(cs.call.nr, 39);
	cr_assert_str_eq(cs.name, "getpid");
	ctl_callspec_free(&cs);
}

Test(parse_name, raw_number_unknown_to_libseccomp)
{
	struct ctl_callspec cs;

	parse_ok("4000 1", &cs);
	cr_assert_eq(cs.call.nr, 4000);
	cr_assert_str_eq(cs.name, "4000");
	ctl_callspec_free(&cs);
}

Test(parse_name, unknown)
{
	parse_fails("nosuchcall 1", -ENOSYS, "unknown syscall \"nosuchcall\"");
	/* known to libseccomp, but not on x86_64 */
	parse_fails("socketcall 1 2", -ENOSYS, "unknown syscall");
	parse_fails("39x", -ENOSYS, "unknown syscall");
	parse_fails("99999999999999999999", -ENOSYS, "unknown syscall");
	parse_fails("\"read\"", -ENOSYS, "unknown syscall");
	/* longer than the name field */
	parse_fails("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		    "aaaaaaaaaaaaaaaaaaa", -ENOSYS, "unknown syscall");
}

Test(parse_name, missing)
{
	struct ctl_callspec cs;
	char err[64];

	cr_assert_eq(ctl_call_parse(0, NULL, &cs, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "missing syscall name");
}

Test(parse_name, too_many_args)
{
	struct ctl_callspec cs;

	parse_fails("mmap 1 2 3 4 5 6 7", -E2BIG, "at most 6");
	parse_ok("mmap 1 2 3 4 5 6", &cs);
	cr_assert_eq(cs.call.nargs, 6);
	ctl_callspec_free(&cs);
}

Test(parse_name, null_and_tiny_err)
{
	struct ctl_callspec cs;
	char *argv[] = { strdup("nosuchcall"), NULL };
	char err[8];

	cr_assert_eq(ctl_call_parse(1, argv, &cs, NULL, 0), -ENOSYS);
	memset(err, 'x', sizeof(err));
	cr_assert_eq(ctl_call_parse(1, argv, &cs, err, sizeof(err)), -ENOSYS);
	cr_assert_eq(strnlen(err, sizeof(err)), sizeof(err) - 1);
	cr_assert_eq(ctl_call_parse(1, argv, &cs, err, 1), -ENOSYS);
	cr_assert_eq(err[0], '\0');
	free(argv[0]);
}

/* ---- integers ----------------------------------------------------- */

Test(parse_int, bases)
{
	cr_assert_eq(int_value("0"), 0);
	cr_assert_eq(int_value("42"), 42);
	cr_assert_eq(int_value("0x2a"), 42);
	cr_assert_eq(int_value("0X2A"), 42);
	cr_assert_eq(int_value("0644"), 0644);
	cr_assert_eq(int_value("00"), 0);
	cr_assert_eq(int_value("18446744073709551615"), UINT64_MAX);
	cr_assert_eq(int_value("0xffffffffffffffff"), UINT64_MAX);
}

Test(parse_int, negative_sign_extends)
{
	struct ctl_callspec cs;

	cr_assert_eq(int_value("-1"), UINT64_MAX);
	cr_assert_eq(int_value("-100"), (uint64_t)-100);
	cr_assert_eq(int_value("-0x10"), (uint64_t)-16);
	cr_assert_eq(int_value("-0"), 0);
	cr_assert_eq(int_value("-9223372036854775808"), 1ULL << 63);
	one_arg("-1", &cs);
	cr_assert(cs.sgn[0]);
	cr_assert_eq(cs.disp[0], CTL_DISP_INT);
	cr_assert_str_eq(cs.text[0], "-1");
	ctl_callspec_free(&cs);
	one_arg("0xffffffffffffffff", &cs);
	cr_assert(!cs.sgn[0]);
	ctl_callspec_free(&cs);
}

Test(parse_int, malformed)
{
	parse_fails("getpid 08", -EINVAL, "bad number");
	parse_fails("getpid 12abc", -EINVAL, "\"12abc\"");
	parse_fails("getpid 0x", -EINVAL, "bad number");
	parse_fails("getpid --1", -EINVAL, "bad number");
	parse_fails("getpid -", -EINVAL, "bad number");
	parse_fails("getpid -x1", -EINVAL, "bad number");
	parse_fails("getpid 1.5", -EINVAL, "bad number");
	parse_fails("getpid +1", -EINVAL, "cannot parse");
	parse_fails("getpid 1\\ ", -EINVAL, NULL);
	parse_fails("getpid 18446744073709551616", -EINVAL, "out of range");
	parse_fails("getpid -9223372036854775809", -EINVAL, "out of range");
	parse_fails("getpid 1 2 %", -EINVAL, "argument 3:");
}

/* ---- symbols ------------------------------------------------------ */

Test(parse_sym, or_expressions)
{
	struct ctl_callspec cs;

	cr_assert_eq(int_value("O_RDONLY|O_CREAT|O_CLOEXEC"),
		     (uint64_t)(O_RDONLY | O_CREAT | O_CLOEXEC));
	cr_assert_eq(int_value("O_WRONLY|0x40"), (uint64_t)(O_WRONLY | 0x40));
	cr_assert_eq(int_value("0100|O_WRONLY"), (uint64_t)(0100 | O_WRONLY));
	cr_assert_eq(int_value("PROT_READ|PROT_WRITE"),
		     (uint64_t)(PROT_READ | PROT_WRITE));
	one_arg("O_RDWR|O_TRUNC", &cs);
	cr_assert_eq(cs.disp[0], CTL_DISP_SYM);
	cr_assert_str_eq(cs.text[0], "O_RDWR|O_TRUNC");
	cr_assert(!cs.sgn[0]);
	ctl_callspec_free(&cs);
}

Test(parse_sym, at_fdcwd_is_negative)
{
	struct ctl_callspec cs;

	one_arg("AT_FDCWD", &cs);
	cr_assert_eq(cs.call.args[0].value, (uint64_t)(int64_t)AT_FDCWD);
	cr_assert(cs.sgn[0]);
	ctl_callspec_free(&cs);
}

Test(parse_sym, required_names)
{
	static const struct {
		const char *name;
		int64_t value;
	} want[] = {
		{ "AT_FDCWD", AT_FDCWD }, { "AT_EMPTY_PATH", AT_EMPTY_PATH },
		{ "AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW },
		{ "AT_REMOVEDIR", AT_REMOVEDIR }, { "O_RDONLY", O_RDONLY },
		{ "O_WRONLY", O_WRONLY }, { "O_RDWR", O_RDWR },
		{ "O_CREAT", O_CREAT }, { "O_EXCL", O_EXCL },
		{ "O_TRUNC", O_TRUNC }, { "O_APPEND", O_APPEND },
		{ "O_NONBLOCK", O_NONBLOCK }, { "O_CLOEXEC", O_CLOEXEC },
		{ "O_DIRECTORY", O_DIRECTORY }, { "O_NOFOLLOW", O_NOFOLLOW },
		{ "O_PATH", O_PATH }, { "O_TMPFILE", O_TMPFILE },
		{ "O_SYNC", O_SYNC }, { "O_DSYNC", O_DSYNC },
		{ "O_NOCTTY", O_NOCTTY }, { "O_NOATIME", O_NOATIME },
		{ "O_DIRECT", O_DIRECT }, { "O_ASYNC", O_ASYNC },
		{ "SEEK_SET", SEEK_SET }, { "SEEK_CUR", SEEK_CUR },
		{ "SEEK_END", SEEK_END }, { "SEEK_DATA", SEEK_DATA },
		{ "SEEK_HOLE", SEEK_HOLE }, { "SIGHUP", SIGHUP },
		{ "SIGINT", SIGINT }, { "SIGKILL", SIGKILL },
		{ "SIGTERM", SIGTERM }, { "SIGCHLD", SIGCHLD },
		{ "SIGSTOP", SIGSTOP }, { "SIGCONT", SIGCONT },
		{ "SIGUSR1", SIGUSR1 }, { "SIGUSR2", SIGUSR2 },
		{ "SIGPIPE", SIGPIPE }, { "SIGSYS", SIGSYS },
		{ "F_GETFD", F_GETFD }, { "F_SETFD", F_SETFD },
		{ "F_GETFL", F_GETFL }, { "F_SETFL", F_SETFL },
		{ "F_DUPFD", F_DUPFD }, { "F_DUPFD_CLOEXEC", F_DUPFD_CLOEXEC },
		{ "FD_CLOEXEC", FD_CLOEXEC }, { "PROT_NONE", PROT_NONE },
		{ "PROT_READ", PROT_READ }, { "PROT_EXEC", PROT_EXEC },
		{ "MAP_SHARED", MAP_SHARED }, { "MAP_PRIVATE", MAP_PRIVATE },
		{ "MAP_ANONYMOUS", MAP_ANONYMOUS }, { "MAP_FIXED", MAP_FIXED },
		{ "SOCK_STREAM", SOCK_STREAM }, { "SOCK_DGRAM", SOCK_DGRAM },
		{ "SOCK_SEQPACKET", SOCK_SEQPACKET },
		{ "SOCK_NONBLOCK", SOCK_NONBLOCK },
		{ "SOCK_CLOEXEC", SOCK_CLOEXEC }, { "AF_UNIX", AF_UNIX },
		{ "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
		{ "CLOSE_RANGE_CLOEXEC", 4 }, { "CLOSE_RANGE_UNSHARE", 2 },
		{ "EFD_CLOEXEC", O_CLOEXEC }, { "EFD_NONBLOCK", O_NONBLOCK },
		{ "EFD_SEMAPHORE", 1 }, { "R_OK", R_OK }, { "W_OK", W_OK },
		{ "X_OK", X_OK }, { "F_OK", F_OK }, { "S_IFREG", S_IFREG },
		{ "S_IFDIR", S_IFDIR }, { "S_IRWXU", S_IRWXU },
		{ "S_IRUSR", S_IRUSR }, { "S_IXOTH", S_IXOTH },
		{ "MSG_PEEK", MSG_PEEK }, { "MSG_DONTWAIT", MSG_DONTWAIT },
		{ "MSG_NOSIGNAL", MSG_NOSIGNAL }, { "SHUT_RD", SHUT_RD },
		{ "SHUT_WR", SHUT_WR }, { "SHUT_RDWR", SHUT_RDWR },
		{ "P_ALL", 0 }, { "P_PID", 1 }, { "P_PGID", 2 },
		{ "P_PIDFD", 3 }, { "WNOHANG", WNOHANG },
		{ "WEXITED", WEXITED }, { "WSTOPPED", WSTOPPED },
		{ "WCONTINUED", WCONTINUED }, { "WNOWAIT", WNOWAIT },
		{ "STDIN_FILENO", 0 }, { "STDOUT_FILENO", 1 },
		{ "STDERR_FILENO", 2 },
	};
	int64_t v;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		cr_assert_eq(tp_const_lookup(want[i].name,
					      strlen(want[i].name), &v),
			     0, "%s missing", want[i].name);
		cr_assert_eq(v, want[i].value, "%s", want[i].name);
		cr_assert_eq(int_value(want[i].name), (uint64_t)want[i].value,
			     "%s", want[i].name);
	}
}

Test(parse_sym, realtime_signals)
{
	cr_assert_eq(int_value("SIGRTMIN"), (uint64_t)SIGRTMIN);
	cr_assert_eq(int_value("SIGRTMAX"), (uint64_t)SIGRTMAX);
	cr_assert_eq(int_value("SIGRTMIN+3"), (uint64_t)SIGRTMIN + 3);
	cr_assert_eq(int_value("SIGRTMAX-1"), (uint64_t)SIGRTMAX - 1);
	parse_fails("kill 1 SIGRTMIN+99", -EINVAL, "SIGRTMIN+99");
	parse_fails("kill 1 SIGRTMIN-1", -EINVAL, "unknown symbol");
	parse_fails("kill 1 SIGRTMAX+1", -EINVAL, "unknown symbol");
	parse_fails("kill 1 SIGRTMIN+", -EINVAL, "unknown symbol");
}

Test(parse_sym, lookup_is_exact)
{
	int64_t v;

	/* a prefix or a longer name is not a match */
	cr_assert_eq(tp_const_lookup("O_RDONLYX", 8, &v), 0);
	cr_assert_eq(v, O_RDONLY);
	cr_assert_eq(tp_const_lookup("O_RDONL", 7, &v), -ENOENT);
	cr_assert_eq(tp_const_lookup("o_rdonly", 8, &v), -ENOENT);
	cr_assert_eq(tp_const_lookup("", 0, &v), -ENOENT);
}

/* What the decoded output prints can be typed back. */
Test(parse_sym, names_the_output_prints)
{
	cr_assert_eq(int_value("RLIMIT_NOFILE"), (uint64_t)RLIMIT_NOFILE);
	cr_assert_eq(int_value("CLOCK_MONOTONIC_RAW"),
		     (uint64_t)CLOCK_MONOTONIC_RAW);
	cr_assert_eq(int_value("POLLIN|POLLOUT"), (uint64_t)(POLLIN | POLLOUT));
	cr_assert_eq(int_value("EPOLL_CTL_ADD"), (uint64_t)EPOLL_CTL_ADD);
	cr_assert_eq(int_value("STATX_BASIC_STATS"),
		     (uint64_t)STATX_BASIC_STATS);
	parse_fails("getpid RLIMIT_NOFILEX", -EINVAL, "unknown symbol");
}

Test(parse_sym, errors)
{
	parse_fails("openat AT_FDCWD \"/x\" O_RDONY", -EINVAL,
		    "argument 3: unknown symbol \"O_RDONY\"");
	parse_fails("openat AT_FDCWD \"/x\" O_RDONLY|O_CREAX|0", -EINVAL,
		    "\"O_CREAX\"");
	parse_fails("getpid O_RDONLY|", -EINVAL, "empty term");
	parse_fails("getpid |O_RDONLY", -EINVAL, "empty term");
	parse_fails("getpid O_RDONLY||O_CREAT", -EINVAL, "empty term");
	parse_fails("getpid O_RDONLY|+1", -EINVAL, "cannot parse");
	parse_fails("getpid O_RDONLY|12z", -EINVAL, "bad number");
}

/* ---- strings ------------------------------------------------------ */

Test(parse_str, plain)
{
	struct ctl_callspec cs;
	struct tether_arg a = one_arg("\"/etc/hostname\"", &cs);

	cr_assert_eq(a.kind, TETHER_ARG_STR);
	cr_assert_str_eq(a.in, "/etc/hostname");
	cr_assert_eq(cs.disp[0], CTL_DISP_STR);
	cr_assert_str_eq(cs.text[0], "\"/etc/hostname\"");
	cr_assert_eq(a.in, cs.bufs[0], "the spec owns the string");
	ctl_callspec_free(&cs);
}

/* Where the table says the kernel reads a string, a bare word is that
 * string: what attach and batch files pass once their quotes are gone. */
Test(parse_str, bare_word_where_a_string_goes)
{
	struct ctl_callspec cs;

	parse_ok("openat AT_FDCWD /etc/host\\name O_RDONLY", &cs);
	cr_assert_eq(cs.call.args[1].kind, TETHER_ARG_STR);
	cr_assert_str_eq(cs.call.args[1].in, "/etc/host\\name");
	cr_assert_eq(cs.disp[1], CTL_DISP_STR);
	cr_assert_eq(cs.call.args[2].value, (uint64_t)O_RDONLY);
	ctl_callspec_free(&cs);
	/* a number there is still a number: NULL */
	parse_ok("openat AT_FDCWD 0 O_RDONLY", &cs);
	cr_assert_eq(cs.call.args[1].kind, TETHER_ARG_INT);
	ctl_callspec_free(&cs);
	/* not where an int goes */
	parse_fails("openat AT_FDCWD /x rdonly", -EINVAL, "unknown symbol");
	parse_fails("getpid /x", -EINVAL, "cannot parse");
}

Test(parse_str, escapes)
{
	struct ctl_callspec cs;
	struct tether_arg a;

	a = one_arg("\"a\\nb\\tc\\\\d\\\"e\\x41\\101\\7\\x7fz\\'\"", &cs);
	cr_assert_str_eq(a.in, "a\nb\tc\\d\"eAA\a\x7fz'");
	ctl_callspec_free(&cs);
	a = one_arg("\"\\r\\a\\b\\f\\v\\e\\?\\1234\"", &cs);
	cr_assert_str_eq(a.in, "\r\a\b\f\v\033?S4");
	ctl_callspec_free(&cs);
	a = one_arg("\"\"", &cs);
	cr_assert_str_eq(a.in, "");
	ctl_callspec_free(&cs);
	a = one_arg("\"with space\"", &cs);
	cr_assert_str_eq(a.in, "with space");
	ctl_callspec_free(&cs);
	/* a single quote needs no escape inside double quotes */
	a = one_arg("\"it's\"", &cs);
	cr_assert_str_eq(a.in, "it's");
	ctl_callspec_free(&cs);
}

Test(parse_str, errors)
{
	parse_fails("getpid \"a\\0b\"", -EINVAL, "NUL");
	parse_fails("getpid \"\\x00\"", -EINVAL, "NUL");
	parse_fails("getpid \"\\q\"", -EINVAL, "unknown escape \\q");
	parse_fails("getpid \"\\x\"", -EINVAL, "bad escape \\x");
	parse_fails("getpid \"\\xg1\"", -EINVAL, "bad escape");
	parse_fails("getpid \"\\400\"", -EINVAL, "bad escape");
	parse_fails("getpid \"a\"x", -EINVAL, "unterminated");
	parse_fails("getpid \"a\"\"b\"", -EINVAL, "unescaped");
}

Test(parse_str, errors_direct)
{
	arg_fails("\"", -EINVAL, "unterminated");
	arg_fails("\"abc", -EINVAL, "unterminated");
	arg_fails("\"abc\\\"", -EINVAL, "backslash at end");
	arg_fails("\"a\"b\"", -EINVAL, "unescaped");
}

Test(parse_str, length_limit)
{
	struct ctl_callspec cs;
	char line[8192];
	size_t n;

	n = (size_t)snprintf(line, sizeof(line), "getpid \"");
	memset(line + n, 'a', 4096);
	strcpy(line + n + 4096, "\"");
	parse_ok(line, &cs);
	cr_assert_eq(strlen(cs.call.args[0].in), 4096);
	ctl_callspec_free(&cs);
	strcpy(line + n + 4096, "a\"");
	parse_fails(line, -E2BIG, "4097 bytes");
}

/* ---- buffers ------------------------------------------------------ */

Test(parse_buf, out)
{
	struct ctl_callspec cs;
	struct tether_arg a;

	a = one_arg("@64", &cs);
	cr_assert_eq(a.kind, TETHER_ARG_OUT);
	cr_assert_eq(a.size, 64);
	cr_assert_eq(a.out, cs.bufs[0]);
	cr_assert_eq(cs.disp[0], CTL_DISP_OUT);
	ctl_callspec_free(&cs);
	a = one_arg("@0", &cs);
	cr_assert_eq(a.kind, TETHER_ARG_OUT);
	cr_assert_eq(a.size, 0);
	cr_assert_not_null(a.out);
	ctl_callspec_free(&cs);
	a = one_arg("@1048576", &cs);
	cr_assert_eq(a.size, 1048576);
	ctl_callspec_free(&cs);
}

Test(parse_buf, out_errors)
{
	parse_fails("read 0 @1048577", -E2BIG, "@1048577");
	parse_fails("read 0 @99999999999999999999999", -E2BIG, NULL);
	parse_fails("read 0 @", -EINVAL, "size");
	parse_fails("read 0 @-1", -EINVAL, "size");
	parse_fails("read 0 @0x10", -EINVAL, "bad size");
	parse_fails("read 0 @12k", -EINVAL, "bad size");
	parse_fails("read 0 @1048577:'a'", -E2BIG, NULL);
}

Test(parse_buf, total_limit)
{
	struct ctl_callspec cs;

	parse_ok("read @524288 @524288", &cs);
	ctl_callspec_free(&cs);
	parse_fails("read @1048576 @1", -E2BIG, "total");
	parse_fails("read @1048576:'x' @1", -E2BIG, "total");
}

Test(parse_buf, in_quoted)
{
	struct ctl_callspec cs;
	struct tether_arg a = one_arg("'ab\\0c\\xff\"'", &cs);

	cr_assert_eq(a.kind, TETHER_ARG_IN);
	cr_assert_eq(a.size, 6);
	cr_assert(!memcmp(a.in, "ab\0c\xff\"", 6));
	cr_assert_eq(cs.disp[0], CTL_DISP_IN);
	ctl_callspec_free(&cs);
	a = one_arg("''", &cs);
	cr_assert_eq(a.kind, TETHER_ARG_IN);
	cr_assert_eq(a.size, 0);
	ctl_callspec_free(&cs);
	a = one_arg("'\\''", &cs);
	cr_assert_eq(a.size, 1);
	cr_assert_eq(*(const char *)a.in, '\'');
	ctl_callspec_free(&cs);
}

Test(parse_buf, in_hex)
{
	struct ctl_callspec cs;
	struct tether_arg a = one_arg("x:deadBEEF00", &cs);

	cr_assert_eq(a.kind, TETHER_ARG_IN);
	cr_assert_eq(a.size, 5);
	cr_assert(!memcmp(a.in, "\xde\xad\xbe\xef\x00", 5));
	ctl_callspec_free(&cs);
	a = one_arg("x:", &cs);
	cr_assert_eq(a.size, 0);
	ctl_callspec_free(&cs);
}

Test(parse_buf, in_errors)
{
	parse_fails("write 1 x:abc", -EINVAL, "odd");
	parse_fails("write 1 x:zz", -EINVAL, "hex digit");
	parse_fails("write 1 x:0g", -EINVAL, "hex digit");
	arg_fails("'a'b'", -EINVAL, "unescaped");
	arg_fails("'ab\\'", -EINVAL, "backslash at end");
	arg_fails("'", -EINVAL, "unterminated");
	parse_fails("write 1 '\\q'", -EINVAL, "unknown escape");
}

Test(parse_buf, inout)
{
	struct ctl_callspec cs;
	struct tether_arg a = one_arg("@16:'hi'", &cs);
	static const char zero[14];

	cr_assert_eq(a.kind, TETHER_ARG_INOUT);
	cr_assert_eq(a.size, 2);
	cr_assert_eq(a.cap, 16);
	cr_assert_eq(a.in, cs.bufs[0]);
	cr_assert_eq(a.out, cs.bufs[0]);
	cr_assert(!memcmp(a.in, "hi", 2));
	cr_assert(!memcmp((const char *)a.in + 2, zero, 14));
	cr_assert_eq(cs.disp[0], CTL_DISP_INOUT);
	ctl_callspec_free(&cs);
	a = one_arg("@4:x:01020304", &cs);
	cr_assert_eq(a.kind, TETHER_ARG_INOUT);
	cr_assert_eq(a.size, 4);
	cr_assert_eq(a.cap, 4);
	cr_assert(!memcmp(a.in, "\1\2\3\4", 4));
	ctl_callspec_free(&cs);
	a = one_arg("@8:''", &cs);
	cr_assert_eq(a.kind, TETHER_ARG_INOUT);
	cr_assert_eq(a.size, 0);
	ctl_callspec_free(&cs);
}

Test(parse_buf, inout_errors)
{
	parse_fails("getpid @2:'abc'", -EINVAL, "do not fit");
	parse_fails("getpid @2:x:010203", -EINVAL, "do not fit");
	parse_fails("getpid @16:\"hi\"", -EINVAL, "expected");
	parse_fails("getpid @16:", -EINVAL, "expected");
	parse_fails("getpid @16:x:0", -EINVAL, "odd");
	arg_fails("@16:'a", -EINVAL, "unterminated");
}

Test(parse_buf, failure_frees_earlier_args)
{
	/* earlier buffers are allocated when a later argument fails: the
	 * sanitizer run checks they are released */
	parse_fails("write @64 'abc' \"s\" x:00 @8:'a' O_BAD", -EINVAL,
		    "argument 6: unknown symbol \"O_BAD\"");
}

Test(parse_buf, free_twice_and_zeroed)
{
	struct ctl_callspec cs;

	memset(&cs, 0, sizeof(cs));
	ctl_callspec_free(&cs);
	ctl_callspec_free(NULL);
	parse_ok("read 0 @8", &cs);
	ctl_callspec_free(&cs);
	ctl_callspec_free(&cs);
}

Test(parse_buf, mixed_call)
{
	struct ctl_callspec cs;

	parse_ok("pwrite64 3 'data' 4 0x10", &cs);
	cr_assert_eq(cs.call.nr, SYS_pwrite64);
	cr_assert_eq(cs.call.nargs, 4);
	cr_assert_eq(cs.call.args[0].kind, TETHER_ARG_INT);
	cr_assert_eq(cs.call.args[1].kind, TETHER_ARG_IN);
	cr_assert_eq(cs.call.args[3].value, 16);
	cr_assert_null(cs.bufs[0]);
	ctl_callspec_free(&cs);
}

/* ---- @ sized by the syscall table ---------------------------------- */

/* Parse line and return the size argument i got from a bare @. */
static size_t auto_size(const char *line, unsigned i)
{
	struct ctl_callspec cs;
	struct tether_arg a;
	char err[256];

	parse_ok(line, &cs);
	a = cs.call.args[i];
	cr_assert_eq(a.kind, TETHER_ARG_OUT, "%s: arg %u", line, i);
	cr_assert_not_null(a.out);
	cr_assert_eq(a.out, cs.bufs[i]);
	cr_assert_eq(cs.disp[i], CTL_DISP_OUT);
	cr_assert_str_eq(cs.text[i], "@");
	cr_assert_eq(ctl_call_check(&cs, err, sizeof(err)), 0, "%s: %s", line,
		     err);
	ctl_callspec_free(&cs);
	return a.size;
}

Test(parse_auto, struct_sizes)
{
	cr_assert_eq(auto_size("uname @", 0), 390);
	cr_assert_eq(auto_size("fstat 0 @", 1), 144);
	cr_assert_eq(auto_size("statx AT_FDCWD \"/\" 0 0x7ff @", 4), 256);
	cr_assert_eq(auto_size("pipe2 @ O_CLOEXEC", 0), 8);
	/* by number, as by name */
	cr_assert_eq(auto_size("63 @", 0), 390);
}

Test(parse_auto, from_the_count)
{
	cr_assert_eq(auto_size("read 0 @ 100", 1), 100);
	cr_assert_eq(auto_size("read 0 @ 0", 1), 0);
	cr_assert_eq(auto_size("getcwd @ 4096", 0), 4096);
	cr_assert_eq(auto_size("epoll_wait 3 @ 4 0", 1), 48);
	cr_assert_eq(auto_size("getgroups 3 @", 1), 12);
	/* a symbol is a number too */
	cr_assert_eq(auto_size("rt_sigprocmask SIG_BLOCK 0 @ 8", 2), 8);
}

Test(parse_auto, cannot_tell)
{
	/* no buffer there, a buffer the kernel reads, no row, no count */
	parse_fails("getpid @", -EINVAL, "argument 1: @ needs a size here: "
		    "write @N");
	parse_fails("write 1 @ 5", -EINVAL, "@ needs a size here");
	parse_fails("400 @", -EINVAL, "@ needs a size here");
	parse_fails("read 0 @", -EINVAL, "argument 2: @ needs a size here");
	parse_fails("read 0 @ $0", -EINVAL, "@ needs a size here");
	parse_fails("mincore 0 4096 @", -EINVAL, "@ needs a size here");
	parse_fails("getsockopt 3 SOL_SOCKET SO_TYPE @ @4:x:04000000",
		    -EINVAL, "argument 4: @ needs a size here");
}

Test(parse_auto, too_large)
{
	parse_fails("read 0 @ 1048577", -E2BIG, "larger than 1048576");
	parse_fails("epoll_wait 3 @ -1 0", -E2BIG, "@ would be larger");
	/* within each buffer's limit, beyond the call's */
	parse_fails("read 0 @ 1048576 @1", -E2BIG, "buffers total");
}

/* ---- checks against the syscall table --------------------------------- */

/* Parse line (it must parse) and check it. */
static int check_line(const char *line, char *err, size_t errsz)
{
	struct ctl_callspec cs;
	int rc;

	parse_ok(line, &cs);
	rc = ctl_call_check(&cs, err, errsz);
	ctl_callspec_free(&cs);
	return rc;
}

static void check_ok(const char *line)
{
	char err[256] = "unset";
	int rc = check_line(line, err, sizeof(err));

	cr_assert_eq(rc, 0, "check \"%s\": %d (%s)", line, rc, err);
	cr_assert_str_eq(err, "");
}

/* The check refuses line with exactly the message want. */
static void check_fails(const char *line, const char *want)
{
	char err[256];
	int rc = check_line(line, err, sizeof(err));

	cr_assert_eq(rc, -EINVAL, "check \"%s\": %d, wanted -EINVAL (%s)",
		     line, rc, err);
	cr_assert_str_eq(err, want, "check \"%s\"", line);
}

Test(check, too_few_arguments)
{
	check_fails("read 0", "read takes 3 arguments, got 1");
	check_fails("read 0 @8", "read takes 3 arguments, got 2");
	check_fails("openat AT_FDCWD \"/x\"",
		    "openat takes 3 to 4 arguments, got 2");
	check_fails("uname", "uname takes 1 argument, got 0");
	check_fails("ioctl 0", "ioctl takes at least 2 arguments, got 1");
	check_fails("mmap 0 4096 PROT_READ MAP_PRIVATE|MAP_ANONYMOUS -1",
		    "mmap takes 6 arguments, got 5");
}

Test(check, too_many_arguments)
{
	check_fails("getpid 1 2 3", "getpid takes 0 arguments, got 3");
	check_fails("close 1 2", "close takes 1 argument, got 2");
	check_fails("read 0 @8 8 0", "read takes 3 arguments, got 4");
	check_fails("openat AT_FDCWD \"/x\" O_RDONLY 0 0",
		    "openat takes 3 to 4 arguments, got 5");
}

Test(check, arity_within_range)
{
	check_ok("getpid");
	check_ok("read 0 @8 8");
	check_ok("openat AT_FDCWD \"/x\" O_RDONLY");
	check_ok("openat AT_FDCWD \"/x\" O_RDONLY|O_CREAT 0600");
	check_ok("open \"/x\" O_RDONLY");
	check_ok("fcntl 0 F_GETFL");
	check_ok("fcntl 0 F_SETFL 0");
	/* variadic in practice: up to six */
	check_ok("ioctl 0 1");
	check_ok("ioctl 0 1 2 3 4 5");
	check_ok("prctl 1");
	check_ok("prctl 1 2 3 4 5 6");
}

Test(check, struct_too_small)
{
	check_fails("uname @1", "uname: argument 1 is a struct the kernel "
		    "writes in full (390 bytes); @1 is too small (use @390, "
		    "or @ for that size)");
	check_fails("fstat 0 @100", "fstat: argument 2 is a struct the kernel "
		    "writes in full (144 bytes); @100 is too small (use @144, "
		    "or @ for that size)");
	check_fails("setrlimit 0 'x'", "setrlimit: argument 2 is a struct the "
		    "kernel reads in full (16 bytes); a 1-byte buffer is too "
		    "small");
	check_fails("getsockname 3 @128 @2:'ab'", "getsockname: argument 3 is "
		    "a struct the kernel reads and writes in full (4 bytes); "
		    "a 2-byte buffer is too small (use @4:BYTES)");
}

Test(check, struct_big_enough)
{
	check_ok("uname @390");
	check_ok("uname @4096");
	check_ok("fstat 0 @144");
	check_ok("getsockname 3 @128 @4:x:80000000");
	check_ok("setrlimit 7 x:00010000000000000001000000000000");
	/* a null pointer (0) is the caller's business */
	check_ok("uname 0");
}

Test(check, count_beyond_buffer)
{
	check_fails("read 0 @8 100",
		    "read: argument 3 (100) exceeds the 8-byte buffer of "
		    "argument 2");
	check_fails("write 1 'hello' 9",
		    "write: argument 3 (9) exceeds the 5-byte buffer of "
		    "argument 2");
	check_fails("pread64 0 @4:'ab' 5 0",
		    "pread64: argument 3 (5) exceeds the 4-byte buffer of "
		    "argument 2");
	check_fails("epoll_wait 3 @24 4 0",
		    "epoll_wait: argument 3 (4 of 12 bytes each) exceeds the "
		    "24-byte buffer of argument 2");
	check_fails("epoll_wait 3 @24 -1 0",
		    "epoll_wait: argument 3 (-1 of 12 bytes each) exceeds the "
		    "24-byte buffer of argument 2");
	check_fails("getcwd @16 0x10000",
		    "getcwd: argument 2 (65536) exceeds the 16-byte buffer of "
		    "argument 1");
}

Test(check, count_within_buffer)
{
	check_ok("read 0 @8 8");
	check_ok("read 0 @100 8");
	check_ok("epoll_wait 3 @48 4 0");
	check_ok("write 1 'hello' 5");
	/* not both known: a null pointer, a batch result */
	check_ok("read 0 0 100");
	check_ok("read 0 @8 $0");
	check_ok("read $0 @8 8");
}

Test(check, unknown_calls_pass)
{
	/* a number nothing knows, and one libseccomp knows (uselib) but
	 * the table leaves out */
	check_ok("400 1 2 3 4 5 6");
	check_ok("400 @1");
	check_ok("134 1 2 3");
}

Test(check, message_fits_a_small_buffer)
{
	struct ctl_callspec cs;
	char err[8];

	parse_ok("uname @1", &cs);
	cr_assert_eq(ctl_call_check(&cs, err, sizeof(err)), -EINVAL);
	cr_assert_str_eq(err, "uname: ");
	cr_assert_eq(ctl_call_check(&cs, NULL, 0), -EINVAL);
	ctl_callspec_free(&cs);
}

/* ---- errno names -------------------------------------------------- */

Test(errno_name, known_and_unknown)
{
	cr_assert_str_eq(tp_errno_name(ENOENT), "ENOENT");
	cr_assert_str_eq(tp_errno_name(1), "EPERM");
	cr_assert_str_eq(tp_errno_name(EAGAIN), "EAGAIN");
	cr_assert_str_eq(tp_errno_name(EOPNOTSUPP), "EOPNOTSUPP");
	cr_assert_str_eq(tp_errno_name(EHWPOISON), "EHWPOISON");
	cr_assert_null(tp_errno_name(0));
	cr_assert_null(tp_errno_name(-2));
	cr_assert_null(tp_errno_name(41));
	cr_assert_null(tp_errno_name(58));
	cr_assert_null(tp_errno_name(EHWPOISON + 1));
	cr_assert_null(tp_errno_name(100000));
	for (int e = 1; e <= EHWPOISON; e++)
		cr_assert(tp_errno_name(e) || e == 41 || e == 58, "%d", e);
}

/* ---- strace-like printing ----------------------------------------- */

Test(print, openat)
{
	struct ctl_callspec cs;

	parse_ok("openat AT_FDCWD \"/etc/hostname\" O_RDONLY", &cs);
	cs.call.ret = 5;
	expect_print(&cs, false,
		     "openat(AT_FDCWD, \"/etc/hostname\", O_RDONLY) = 5\n");
	ctl_callspec_free(&cs);
}

Test(print, read_out_buffer)
{
	struct ctl_callspec cs;

	parse_ok("read 5 @64 64", &cs);
	fill_out(&cs, 1, "myhost\n", 7);
	cs.call.ret = 7;
	expect_print(&cs, false, "read(5, \"myhost\\n\", 64) = 7\n");
	ctl_callspec_free(&cs);
}

Test(print, ints_as_typed)
{
	struct ctl_callspec cs;

	parse_ok("openat -100 \"a\\tb\" O_WRONLY|O_CREAT|0x40 0644", &cs);
	cs.call.ret = 3;
	cs.raw = true;	/* call --raw; decoded: tests/test_ctl_decode.c */
	expect_print(&cs, false,
		     "openat(-100, \"a\\tb\", O_WRONLY|O_CREAT|0x40, 0644)"
		     " = 3\n");
	ctl_callspec_free(&cs);
}

Test(print, errors)
{
	struct ctl_callspec cs;

	parse_ok("openat AT_FDCWD \"/nope\" O_RDONLY", &cs);
	cs.call.ret = -ENOENT;
	expect_print(&cs, false, "openat(AT_FDCWD, \"/nope\", O_RDONLY) = -1 "
				 "ENOENT (No such file or directory)\n");
	cs.call.ret = -1000;
	expect_print(&cs, false, "openat(AT_FDCWD, \"/nope\", O_RDONLY) = -1 "
				 "E1000 (Unknown error 1000)\n");
	cs.call.ret = -41;
	expect_print(&cs, false, "openat(AT_FDCWD, \"/nope\", O_RDONLY) = -1 "
				 "E41 (Unknown error 41)\n");
	ctl_callspec_free(&cs);
}

Test(print, failed_read_shows_request)
{
	struct ctl_callspec cs;

	parse_ok("read 99 @64 64", &cs);
	cs.call.ret = -EBADF;
	expect_print(&cs, false,
		     "read(99, @64, 64) = -1 EBADF (Bad file descriptor)\n");
	ctl_callspec_free(&cs);
}

Test(print, escapes_bytes)
{
	struct ctl_callspec cs;

	parse_ok("read 0 @16 16", &cs);
	fill_out(&cs, 1, "a\0\"\\\t\r\x7f\xff'", 9);
	cs.call.ret = 9;
	expect_print(&cs, false,
		     "read(0, \"a\\x00\\\"\\\\\\t\\r\\x7f\\xff'\", 16) = 9\n");
	ctl_callspec_free(&cs);
}

Test(print, in_buffer)
{
	struct ctl_callspec cs;

	parse_ok("write 1 'it\\'s\\n\"q\"' x:00ff", &cs);
	cs.call.ret = 8;
	expect_print(&cs, false,
		     "write(1, 'it\\'s\\n\"q\"', '\\x00\\xff') = 8\n");
	ctl_callspec_free(&cs);
}

Test(print, truncates_long_buffers)
{
	struct ctl_callspec cs;
	char data[300], want[400];

	memset(data, 'z', sizeof(data));
	parse_ok("read 0 @300 300", &cs);
	fill_out(&cs, 1, data, 300);
	cs.call.ret = 300;
	snprintf(want, sizeof(want), "read(0, \"%.256s\"..., 300) = 300\n",
		 data);
	expect_print(&cs, false, want);
	/* exactly 256 is not truncated */
	cs.call.args[1].returned = 256;
	cs.call.ret = 256;
	snprintf(want, sizeof(want), "read(0, \"%.256s\", 300) = 256\n", data);
	expect_print(&cs, false, want);
	ctl_callspec_free(&cs);
}

Test(print, returned_beyond_capacity_is_clamped)
{
	struct ctl_callspec cs;

	parse_ok("read 0 @4 4", &cs);
	fill_out(&cs, 1, "abcd", 4);
	cs.call.args[1].returned = 1000;
	cs.call.ret = 4;
	expect_print(&cs, false, "read(0, \"abcd\", 4) = 4\n");
	ctl_callspec_free(&cs);
}

Test(print, inout)
{
	struct ctl_callspec cs;

	parse_ok("getsockopt 3 SOL_SOCKET SO_TYPE @4 @4:x:04000000", &cs);
	fill_out(&cs, 3, "\1\0\0\0", 4);
	fill_out(&cs, 4, "\4\0\0\0", 4);
	cs.call.ret = 0;
	expect_print(&cs, false,
		     "getsockopt(3, SOL_SOCKET, SO_TYPE, \"\\x01\\x00\\x00"
		     "\\x00\", [4]) = 0\n");
	ctl_callspec_free(&cs);
}

Test(print, pointer_results)
{
	struct ctl_callspec cs;

	parse_ok("mmap 0 4096 PROT_READ MAP_PRIVATE|MAP_ANONYMOUS -1 0", &cs);
	cs.call.ret = 0x7f0000001000;
	expect_print(&cs, false, "mmap(0, 4096, PROT_READ, MAP_PRIVATE|"
				 "MAP_ANONYMOUS, -1, 0) = 0x7f0000001000\n");
	ctl_callspec_free(&cs);
	parse_ok("getpid", &cs);
	cs.call.ret = 123456;
	expect_print(&cs, false, "getpid() = 123456\n");
	ctl_callspec_free(&cs);
}

Test(print, programmatic_spec)
{
	/* a spec built by another verb: no tokens, values only */
	struct ctl_callspec cs;

	memset(&cs, 0, sizeof(cs));
	strcpy(cs.name, "lseek");
	cs.call.nr = SYS_lseek;
	cs.call.nargs = 3;
	cs.call.args[0] = TETHER_INT(-1);
	cs.disp[0] = CTL_DISP_INT;
	cs.sgn[0] = true;
	cs.call.args[1] = TETHER_INT(0x1000);
	cs.disp[1] = CTL_DISP_HEX;
	cs.call.args[2] = TETHER_INT(SEEK_SET);
	cs.disp[2] = CTL_DISP_SYM;
	cs.call.ret = -ESPIPE;
	expect_print(&cs, false,
		     "lseek(-1, 0x1000, SEEK_SET) = -1 ESPIPE (Illegal seek)\n");
	expect_print(&cs, true,
		     "{\"syscall\":\"lseek\",\"nr\":8,\"ret\":-1,\"errno\":"
		     "\"ESPIPE\",\"errno_num\":29,\"error\":\"Illegal seek\","
		     "\"args\":[-1,4096,0],\"outs\":[],\"outs_hex\":[],"
		     "\"decoded\":[null,null,\"SEEK_SET\"]}\n");
}

/* ---- JSON printing ------------------------------------------------ */

Test(json, read)
{
	struct ctl_callspec cs;

	parse_ok("read 5 @64 64", &cs);
	fill_out(&cs, 1, "myhost\n", 7);
	cs.call.ret = 7;
	expect_print(&cs, true,
		     "{\"syscall\":\"read\",\"nr\":0,\"ret\":7,\"errno\":null,"
		     "\"errno_num\":null,\"error\":null,\"args\":[5,{\"out\":"
		     "\"myhost\\n\",\"returned\":7,\"size\":64},64],\"outs\":"
		     "[\"myhost\\n\"],\"outs_hex\":[\"6d79686f73740a\"]}\n");
	ctl_callspec_free(&cs);
}

Test(json, failure)
{
	struct ctl_callspec cs;

	parse_ok("openat AT_FDCWD \"/nope\" O_RDONLY|O_CLOEXEC", &cs);
	cs.call.ret = -ENOENT;
	expect_print(&cs, true,
		     "{\"syscall\":\"openat\",\"nr\":257,\"ret\":-1,\"errno\":"
		     "\"ENOENT\",\"errno_num\":2,\"error\":\"No such file or "
		     "directory\",\"args\":[-100,\"/nope\",524288],\"outs\":[],"
		     "\"outs_hex\":[],\"decoded\":[\"AT_FDCWD\",null,"
		     "\"O_RDONLY|O_CLOEXEC\"]}\n");
	cs.call.ret = -1000;
	expect_print(&cs, true,
		     "{\"syscall\":\"openat\",\"nr\":257,\"ret\":-1,\"errno\":"
		     "\"E1000\",\"errno_num\":1000,\"error\":\"Unknown error "
		     "1000\",\"args\":[-100,\"/nope\",524288],\"outs\":[],"
		     "\"outs_hex\":[],\"decoded\":[\"AT_FDCWD\",null,"
		     "\"O_RDONLY|O_CLOEXEC\"]}\n");
	ctl_callspec_free(&cs);
}

Test(json, ints)
{
	struct ctl_callspec cs;

	parse_ok("mmap -1 0xffffffffffffffff -9223372036854775808 0644 "
		 "AT_FDCWD O_WRONLY|O_CREAT", &cs);
	cs.call.ret = 0;
	expect_print(&cs, true,
		     "{\"syscall\":\"mmap\",\"nr\":9,\"ret\":0,"
		     "\"errno\":null,\"errno_num\":null,\"error\":null,"
		     "\"args\":[-1,18446744073709551615,-9223372036854775808,"
		     "420,-100,65],\"outs\":[],\"outs_hex\":[],"
		     "\"decoded\":[null,null,\"0x8000000000000000\","
		     "\"MAP_ANONYMOUS|MAP_GROWSDOWN|0x84\",null,null]}\n");
	ctl_callspec_free(&cs);
}

Test(json, buffers)
{
	struct ctl_callspec cs;

	parse_ok("sendto 3 'a\\x80\"' \"p\\xc3\\xa9\" @3 @8:'in'", &cs);
	fill_out(&cs, 3, "\0\1\2", 3);
	fill_out(&cs, 4, "outs", 4);
	cs.call.ret = 3;
	expect_print(&cs, true,
		     "{\"syscall\":\"sendto\",\"nr\":44,\"ret\":3,"
		     "\"errno\":null,\"errno_num\":null,\"error\":null,"
		     "\"args\":[3,"
		     "{\"in\":{\"hex\":\"618022\"},\"hex\":\"618022\",\"size\":3},"
		     "\"p\xc3\xa9\","
		     "{\"out\":\"\\u0000\\u0001\\u0002\",\"returned\":3,"
		     "\"size\":3},"
		     "{\"out\":\"outs\",\"returned\":4,\"size\":8,"
		     "\"in_size\":2}"
		     "],\"outs\":[\"\\u0000\\u0001\\u0002\",\"outs\"],"
		     "\"outs_hex\":[\"000102\",\"6f757473\"]}\n");
	ctl_callspec_free(&cs);
}

Test(json, failed_call_has_empty_outs)
{
	struct ctl_callspec cs;

	parse_ok("read 9 @4 4", &cs);
	cs.call.ret = -EBADF;
	expect_print(&cs, true,
		     "{\"syscall\":\"read\",\"nr\":0,\"ret\":-1,\"errno\":"
		     "\"EBADF\",\"errno_num\":9,\"error\":\"Bad file "
		     "descriptor\",\"args\":[9,{\"out\":\"\",\"returned\":0,"
		     "\"size\":4},4],\"outs\":[\"\"],\"outs_hex\":[\"\"]}\n");
	ctl_callspec_free(&cs);
}

Test(json, string_escaping)
{
	static const char in[] = "q\"b\\n\n\t\r\b\f\x1f\x7f\xc3\xa9~\xe2\x80\xa8";
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	cr_assert_not_null(f);
	ctl_json_string(f, in, sizeof(in) - 1);
	fputc(' ', f);
	ctl_json_string(f, NULL, 0);
	fputc(' ', f);
	ctl_json_string(f, "a\0b", 3);
	fputc(' ', f);
	ctl_json_hex(f, "\x00\xab", 2);
	fclose(f);
	/* valid UTF-8 passes as it is: only ", \\, controls and U+2028/9
	 * are escaped */
	cr_assert_str_eq(buf,
			 "\"q\\\"b\\\\n\\n\\t\\r\\u0008\\u000c\\u001f\\u007f"
			 "\xc3\xa9~\\u2028\" null \"a\\u0000b\" \"00ab\"");
	free(buf);
}

/* Bytes that are not UTF-8 (a stray continuation byte, 0xff, an
 * overlong form, a surrogate, a cut sequence) come as {"hex": ...}. */
Test(json, string_not_utf8)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
		{ "a\x80", "{\"hex\":\"6180\"}" },
		{ "\xff", "{\"hex\":\"ff\"}" },
		{ "\xc0\xaf", "{\"hex\":\"c0af\"}" },
		{ "\xed\xa0\x80", "{\"hex\":\"eda080\"}" },
		{ "caf\xc3", "{\"hex\":\"636166c3\"}" },
		{ "\xf4\x90\x80\x80", "{\"hex\":\"f4908080\"}" },
		{ "\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *buf = NULL;
		size_t n = 0;
		FILE *f = open_memstream(&buf, &n);

		cr_assert_not_null(f);
		ctl_json_string(f, cases[i].in, strlen(cases[i].in));
		fclose(f);
		cr_expect_str_eq(buf, cases[i].want, "case %zu", i);
		free(buf);
	}
}

/* ---- splitting lines (ctl_words: attach and batch files) ------------ */

static void expect_split(const char *line, int n, ...)
{
	char **argv;
	int argc, i;
	va_list ap;

	cr_assert_eq(ctl_words(line, &argv, &argc), 0, "%s", line);
	cr_assert_eq(argc, n, "\"%s\": %d words, wanted %d", line, argc, n);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(argv[i], va_arg(ap, const char *), "word %d",
				 i);
	va_end(ap);
	cr_assert_null(argv[argc]);
	ctl_words_free(argv, argc);
}

static void expect_split_fails(const char *line, int want, const char *msg)
{
	char **argv = (char **)1;
	int argc = 1;

	cr_assert_eq(ctl_words(line, &argv, &argc), want, "%s", line);
	cr_assert_null(argv);
	cr_assert_eq(argc, 0);
	cr_assert(strstr(ctl_words_strerror(want), msg), "%s: %s", line,
		  ctl_words_strerror(want));
}

Test(split, words)
{
	expect_split("call getpid", 2, "call", "getpid");
	expect_split("  call\t getpid  \n", 2, "call", "getpid");
	expect_split("a b\tc", 3, "a", "b", "c");
}

Test(split, empty)
{
	expect_split("", 0);
	expect_split("   \t\n", 0);
	expect_split("# only a comment", 0);
	expect_split("   # indented comment \"unbalanced", 0);
}

/* What a shell does: quotes group and go away. */
Test(split, quotes_like_a_shell)
{
	expect_split("spawn -- sh -c \"echo hi\"", 5, "spawn", "--", "sh",
		     "-c", "echo hi");
	expect_split("\"a b\" 'c d'", 2, "a b", "c d");
	expect_split("\"it's\" 'say \"hi\"'", 2, "it's", "say \"hi\"");
	expect_split("a\"b c\"d e", 2, "ab cd", "e");
	expect_split("label 3 'my label'", 3, "label", "3", "my label");
	/* a string for `call` keeps its double quotes inside single ones */
	expect_split("openat AT_FDCWD '\"/etc/hostname\"' O_RDONLY", 4,
		     "openat", "AT_FDCWD", "\"/etc/hostname\"", "O_RDONLY");
	expect_split("write 1 @64:'a b  c' x", 4, "write", "1", "@64:a b  c",
		     "x");
	/* no expansion: batch references stay */
	expect_split("read $0 @64 64", 4, "read", "$0", "@64", "64");
	expect_split("echo ~ * $HOME `x`", 5, "echo", "~", "*", "$HOME",
		     "`x`");
}

Test(split, empty_words)
{
	expect_split("a \"\" b", 3, "a", "", "b");
	expect_split("'' x", 2, "", "x");
	expect_split("\"\"", 1, "");
	expect_split("label 3 ''", 3, "label", "3", "");
}

Test(split, escapes)
{
	expect_split("a\\ b c", 2, "a b", "c");
	expect_split("\\\"x y", 2, "\"x", "y");
	expect_split("\"a\\\"b\" c", 2, "a\"b", "c");
	expect_split("\"\\\\\" next", 2, "\\", "next");
	/* single quotes keep a backslash as it is */
	expect_split("'x\\n' y", 2, "x\\n", "y");
	expect_split("\\# not a comment", 4, "#", "not", "a", "comment");
}

Test(split, comments)
{
	expect_split("call getpid # why not", 2, "call", "getpid");
	expect_split("call getpid #", 2, "call", "getpid");
	expect_split("a#b", 1, "a#b");
	expect_split("\"#x\" '#y' z", 3, "#x", "#y", "z");
	expect_split("a \"b\"#c", 2, "a", "b#c");
}

Test(split, unbalanced)
{
	expect_split_fails("call write 1 \"abc", CTL_WORDS_DQUOTE,
			   "unbalanced quotes: a \" is not closed");
	expect_split_fails("'abc", CTL_WORDS_SQUOTE,
			   "unbalanced quotes: a ' is not closed");
	expect_split_fails("\"abc\\\"", CTL_WORDS_DQUOTE, "unbalanced");
	expect_split_fails("@64:'ab", CTL_WORDS_SQUOTE, "unbalanced");
	expect_split_fails("ok \"one\" \"two", CTL_WORDS_DQUOTE, "unbalanced");
	expect_split_fails("'it\\'s'", CTL_WORDS_SQUOTE, "unbalanced");
	/* libedit's tok_str reads past the NUL after a final backslash:
	 * refused before it gets there */
	expect_split_fails("end\\", CTL_WORDS_BACKSLASH, "backslash");
	expect_split_fails("a \\", CTL_WORDS_BACKSLASH, "backslash");
	expect_split_fails("\"abc\\", CTL_WORDS_BACKSLASH, "backslash");
	expect_split("end\\\\", 1, "end\\");
}

Test(split, many_words)
{
	char line[12000], **argv;
	size_t n = 0;
	int argc, i;

	for (i = 0; i < 1000; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%d ",
				      i % 10);
	cr_assert_eq(ctl_words(line, &argv, &argc), 0);
	cr_assert_eq(argc, 1000);
	for (i = 0; i < argc; i++)
		cr_assert_eq(argv[i][0], '0' + i % 10);
	cr_assert_null(argv[argc]);
	ctl_words_free(argv, argc);
	ctl_words_free(NULL, 0);
	/* past the limit: refused, not allocated */
	for (n = 0, i = 0; i < 5000; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "x ");
	argv = NULL;
	cr_assert_eq(ctl_words(line, &argv, &argc), -E2BIG);
	cr_assert_null(argv);
}

/* ---- round trips -------------------------------------------------- */

Test(roundtrip, every_byte)
{
	/* what the printer writes for 'bytes', the parser reads back */
	unsigned char bytes[256];
	struct ctl_callspec cs;
	char *esc = NULL, *line;
	size_t n = 0;
	FILE *f;

	for (int i = 0; i < 256; i++)
		bytes[i] = (unsigned char)i;
	f = open_memstream(&esc, &n);
	cr_assert_not_null(f);
	ctl_print_bytes(f, bytes, sizeof(bytes), '\'');
	fclose(f);
	cr_assert_geq(asprintf(&line, "write 1 %s 256", esc), 0);
	parse_ok(line, &cs);
	cr_assert_eq(cs.call.args[1].kind, TETHER_ARG_IN);
	cr_assert_eq(cs.call.args[1].size, 256);
	cr_assert(!memcmp(cs.call.args[1].in, bytes, 256));
	ctl_callspec_free(&cs);
	free(line);
	free(esc);
}

Test(roundtrip, print_reparses)
{
	/* a printed call, minus its result, parses to the same call */
	static const char *const lines[] = {
		"openat AT_FDCWD \"/tmp/x y\\n\" O_WRONLY|O_CREAT|0x40 0644",
		"write 1 'a\\x00\\'\"' 3",
		"kill -1 SIGRTMIN+1",
	};
	struct ctl_callspec a, b;
	char *out, *eq;

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		parse_ok(lines[i], &a);
		a.call.ret = 0;
		out = printed(&a, false);
		eq = strstr(out, ") = 0\n");
		cr_assert_not_null(eq);
		*eq = '\0';
		*strchr(out, '(') = ' ';
		for (char *p = out; (p = strstr(p, ", ")); p++)
			*p = ' ';
		parse_ok(out, &b);
		cr_assert_eq(a.call.nr, b.call.nr);
		cr_assert_eq(a.call.nargs, b.call.nargs);
		for (unsigned k = 0; k < a.call.nargs; k++) {
			cr_assert_eq(a.call.args[k].kind, b.call.args[k].kind);
			cr_assert_eq(a.call.args[k].value,
				     b.call.args[k].value);
			cr_assert_eq(a.call.args[k].size, b.call.args[k].size);
			if (a.call.args[k].kind == TETHER_ARG_IN)
				cr_assert(!memcmp(a.call.args[k].in,
						  b.call.args[k].in,
						  a.call.args[k].size));
			if (a.call.args[k].kind == TETHER_ARG_STR)
				cr_assert_str_eq(a.call.args[k].in,
						 b.call.args[k].in);
		}
		ctl_callspec_free(&a);
		ctl_callspec_free(&b);
		free(out);
	}
}

/* ---- the syscall names tetherctl carries (tools/gen-sysnames) ------- */

/* The table made at build time says what libseccomp says, both ways. */
Test(sysnames, agree_with_libseccomp)
{
	for (int nr = 0; nr < 1024; nr++) {
		char *want = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE,
							      nr);
		const char *got = ctl_sysname_of(nr);

		if (want) {
			cr_assert_not_null(got, "%d: %s missing", nr, want);
			cr_assert_str_eq(got, want, "%d", nr);
			cr_assert_eq(ctl_sysnr_of(got), nr, "%s", got);
		} else {
			cr_assert_null(got, "%d: %s", nr, got);
		}
		free(want);
	}
	cr_assert_eq(ctl_sysnr_of("nosuchcall"), -1);
	cr_assert_null(ctl_sysname_of(-1));
	cr_assert_null(ctl_sysname_of(1 << 20));
}

/* ---- exit statuses (tetherctl(1): scripts branch on them) ----------- */

/* EAGAIN from an upgrading server (cause "upgrade", or its notice) is a
 * connection to make again, 3; any other EAGAIN is the request's, 1. */
Test(status, an_upgrading_server_is_unreachable_for_now)
{
	static const struct {
		int err, cause, want;
		const char *text;
	} v[] = {
		{ EAGAIN, TETHER_CAUSE_CONNECTION, CTL_EX_UNREACHABLE,
		  "tetherd is upgrading: reconnect in a moment" },
		{ EAGAIN, TETHER_CAUSE_REQUEST, CTL_EX_FAILED, "busy" },
		{ ECONNRESET, TETHER_CAUSE_NONE, CTL_EX_UNREACHABLE, "lost" },
		/* EPIPE as the server's answer: the request's failure */
		{ EPIPE, TETHER_CAUSE_REQUEST, CTL_EX_FAILED, "spawner gone" },
		{ EPIPE, TETHER_CAUSE_CONNECTION, CTL_EX_UNREACHABLE,
		  "broken pipe" },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ctl_err_reset();
		ctl_err_errno(v[i].err, "%s", v[i].text);
		if (v[i].cause)
			ctl_err_cause(v[i].cause);
		cr_expect_eq(ctl_status_of(-v[i].err), v[i].want, "%s: %d",
			     v[i].text, ctl_status_of(-v[i].err));
	}
	ctl_err_reset();
}
