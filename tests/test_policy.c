/*
 * The policy parser and decisions (server/policy/policy.c), without a server:
 * every kind of error with its line number, the decisions user space
 * makes, the groups, the file checks of td_policy_load, and the filter
 * libseccomp builds from a policy, run for real in a forked child so
 * that the kernel's answer can be compared with the user-space one.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy.h"

/* Parse text; the errors land in errbuf. */
static char errbuf[8192];

static int parse(const char *text, struct td_policy **p)
{
	FILE *f = fmemopen(errbuf, sizeof(errbuf), "w");
	int rc;

	cr_assert(f);
	memset(errbuf, 0, sizeof(errbuf));
	rc = td_policy_parse(text, strlen(text), "t.policy", f, p);
	fclose(f);
	return rc;
}

static struct td_policy *parse_ok(const char *text)
{
	struct td_policy *p = NULL;
	int rc = parse(text, &p);

	cr_assert_eq(rc, 0, "parse failed: %s", errbuf);
	cr_assert(p);
	return p;
}

/* The call with these args: allowed (0) or the errno. */
static int decide(const struct td_policy *p, int nr, uint64_t a0,
		  uint64_t a1, uint64_t a2, const struct td_rule **rule)
{
	uint64_t a[6] = { a0, a1, a2, 0, 0, 0 };
	const struct td_rule *r;
	int err;
	bool ok = td_policy_decide(p, nr, a, &err, &r);

	if (rule)
		*rule = r;
	cr_assert_eq(ok, err == 0);
	return err;
}

static void assert_error_on(int line, const char *needle)
{
	char want[32];

	snprintf(want, sizeof(want), "t.policy:%d: ", line);
	cr_assert(strstr(errbuf, want), "no error on line %d in:\n%s", line,
		  errbuf);
	if (needle)
		cr_assert(strstr(strstr(errbuf, want), needle),
			  "line %d error lacks '%s':\n%s", line, needle,
			  errbuf);
}

static unsigned count_lines(const char *s)
{
	unsigned n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

Test(parse, every_kind_of_error_with_its_line)
{
	static const char text[] =
		"# comment only\n"				/* 1 */
		"alow getpid\n"					/* 2 */
		"allow openat arg9 == 0\n"			/* 3 */
		"allow kill arg1 == SIGTERMX\n"			/* 4 */
		"deny nosuchcall\n"				/* 5 */
		"allow @nope\n"					/* 6 */
		"deny getpid EFOO\n"				/* 7 */
		"allow kill arg1 ~ 3\n"				/* 8 */
		"allow close arg0 == 1 and arg0 == 2\n"		/* 9 */
		"allow @info arg0 == 1\n"			/* 10 */
		"default allow\n"				/* 11 */
		"default deny\n"				/* 12 */
		"allow read arg0 == 1 or arg1 == 2\n"		/* 13 */
		"allow\n"					/* 14 */
		"deny write arg0 & 3 != 1\n"			/* 15 */
		"default maybe\n"				/* 16 */
		"allow read arg0 ==\n"				/* 17 */
		"deny fchmod\n"					/* 18 */
		"allow fchmod arg1 == 0644\n"			/* 19 */
		"deny getppid 4095\n";				/* 20 */
	struct td_policy *p = (void *)1;

	cr_assert_eq(parse(text, &p), -EINVAL);
	cr_assert_null(p);
	assert_error_on(2, "unknown action 'alow'");
	assert_error_on(3, "arg9");
	assert_error_on(4, "SIGTERMX");
	assert_error_on(5, "unknown syscall 'nosuchcall'");
	assert_error_on(6, "unknown group '@nope'");
	assert_error_on(7, "EFOO");
	assert_error_on(8, "'~'");
	assert_error_on(9, "arg0 compared twice");
	assert_error_on(10, "group takes no conditions");
	assert_error_on(12, "second default (the first is on line 11)");
	assert_error_on(13, "'and'");
	assert_error_on(14, "allow what?");
	assert_error_on(15, "wants '=='");
	assert_error_on(16, "default allow");
	assert_error_on(17, "incomplete condition");
	assert_error_on(19, "the rules of one syscall must agree");
	/* libseccomp refuses 4095 at the build: said here, with a line */
	assert_error_on(20, "1 to 4094");
	cr_assert_eq(count_lines(errbuf), 17, "errors:\n%s", errbuf);
}

Test(parse, line_limits)
{
	char *big = malloc(TD_POLICY_LINE_MAX + 64);
	struct td_policy *p;

	cr_assert(big);
	strcpy(big, "allow getpid\n# ");
	memset(big + strlen(big), 'x', TD_POLICY_LINE_MAX);
	strcpy(big + strlen("allow getpid\n# ") + TD_POLICY_LINE_MAX, "\n");
	cr_assert_eq(parse(big, &p), -EINVAL);
	assert_error_on(2, "line too long");
	free(big);

	static const char nul[] = "allow getpid\nallow\0close\n";
	FILE *f = fmemopen(errbuf, sizeof(errbuf), "w");

	memset(errbuf, 0, sizeof(errbuf));
	cr_assert_eq(td_policy_parse(nul, sizeof(nul) - 1, "t.policy", f, &p),
		     -EINVAL);
	fclose(f);
	assert_error_on(2, "NUL");
}

Test(parse, too_many_words_and_rules)
{
	char *text = malloc(TD_POLICY_RULES_MAX * 32 + 4096);
	struct td_policy *p;
	size_t len = 0;

	cr_assert(text);
	for (int i = 0; i <= TD_POLICY_RULES_MAX; i++)
		len += (size_t)sprintf(text + len, "allow kill arg1 == %d\n",
				       i % 64);
	cr_assert_eq(parse(text, &p), -EINVAL);
	cr_assert(strstr(errbuf, "too many rules"), "%s", errbuf);

	strcpy(text, "allow kill");
	for (int i = 0; i < 80; i++)
		strcat(text, " and");
	strcat(text, "\n");
	cr_assert_eq(parse(text, &p), -EINVAL);
	assert_error_on(1, "too many words");
	free(text);
}

Test(parse, defaults)
{
	struct td_policy *p = parse_ok("allow getpid\n");

	cr_assert_not(p->default_allow, "no default line means deny");
	cr_assert_eq(p->default_err, EPERM);
	cr_assert_eq(p->default_line, 0);
	cr_assert_eq(decide(p, SYS_getppid, 0, 0, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_getpid, 0, 0, 0, NULL), 0);
	td_policy_free(p);

	p = parse_ok("default deny EACCES   # trailing comment\n");
	cr_assert_eq(p->default_err, EACCES);
	cr_assert_eq(p->default_line, 1);
	td_policy_free(p);

	p = parse_ok("\n\n  default allow\n");
	cr_assert(p->default_allow);
	cr_assert_eq(p->default_line, 3);
	cr_assert_eq(decide(p, SYS_mkdirat, 0, 0, 0, NULL), 0);
	td_policy_free(p);

	p = parse_ok("default deny 13\ndeny unlinkat 2\n");
	cr_assert_eq(p->default_err, 13);
	cr_assert_eq(decide(p, SYS_unlinkat, 0, 0, 0, NULL), ENOENT);
	td_policy_free(p);
}

Test(decide, conditions)
{
	struct td_policy *p = parse_ok(
		"default deny\n"
		"allow openat arg2 & O_ACCMODE == O_RDONLY\n"
		"allow kill arg1 == SIGTERM and arg0 > 1\n"
		"allow write arg0 <= 2\n"
		"allow lseek arg2 != SEEK_END\n"
		"allow dup3 arg2 == O_CLOEXEC|0\n"
		"allow fchdir arg0 >= 0x10\n"
		"allow close arg0 < 010\n"
		"allow kill arg0 == -1 and arg1 == SIGCONT\n"
		"deny mkdirat ENOSPC arg2 == 0700\n");
	const struct td_rule *r;

	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDONLY | O_CLOEXEC,
			    &r), 0);
	cr_assert_eq(r->line, 2);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_WRONLY, &r), EPERM);
	cr_assert_null(r, "the default decided");
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDWR, NULL), EPERM);

	cr_assert_eq(decide(p, SYS_kill, 42, SIGTERM, 0, &r), 0);
	cr_assert_eq(r->line, 3);
	cr_assert_eq(decide(p, SYS_kill, 1, SIGTERM, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_kill, 42, SIGKILL, 0, NULL), EPERM);
	/* the negative pid as the sign-extended register holds it */
	cr_assert_eq(decide(p, SYS_kill, (uint64_t)-1, SIGCONT, 0, &r), 0);
	cr_assert_eq(r->line, 9);
	cr_assert_eq(decide(p, SYS_kill, 0, SIGTERM, 0, NULL), EPERM);
	/* compares are unsigned, as in the kernel: -1 > 1 */
	cr_assert_eq(decide(p, SYS_kill, (uint64_t)-1, SIGTERM, 0, NULL), 0);

	cr_assert_eq(decide(p, SYS_write, 2, 0, 0, NULL), 0);
	cr_assert_eq(decide(p, SYS_write, 3, 0, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_lseek, 3, 0, SEEK_SET, NULL), 0);
	cr_assert_eq(decide(p, SYS_lseek, 3, 0, SEEK_END, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_dup3, 3, 4, O_CLOEXEC, NULL), 0);
	cr_assert_eq(decide(p, SYS_dup3, 3, 4, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_fchdir, 16, 0, 0, NULL), 0);
	cr_assert_eq(decide(p, SYS_fchdir, 15, 0, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_close, 7, 0, 0, NULL), 0);
	cr_assert_eq(decide(p, SYS_close, 8, 0, 0, NULL), EPERM);
	cr_assert_eq(decide(p, SYS_mkdirat, AT_FDCWD, 0, 0700, &r), ENOSPC);
	cr_assert_eq(r->line, 10);
	cr_assert_eq(decide(p, SYS_mkdirat, AT_FDCWD, 0, 0755, &r), EPERM);
	cr_assert_null(r);
	td_policy_free(p);
}

Test(decide, direct_rule_replaces_the_group_entry)
{
	struct td_policy *p = parse_ok(
		"default deny\n"
		"allow @file-read\n"
		"deny getdents64 EACCES\n"
		"allow @file-write\n"
		"allow openat arg2 & O_ACCMODE == O_WRONLY\n");
	const struct td_rule *r;

	cr_assert_eq(decide(p, SYS_read, 0, 0, 0, &r), 0);
	cr_assert_str_eq(r->group, "@file-read");
	cr_assert_eq(decide(p, SYS_getdents64, 3, 0, 0, &r), EACCES);
	cr_assert_eq(r->line, 3);
	cr_assert_null(r->group);
	/* neither group's openat survives the direct rule */
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_WRONLY, &r), 0);
	cr_assert_eq(r->line, 5);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDONLY, NULL),
		     EPERM);
	cr_assert_eq(decide(p, SYS_mkdirat, AT_FDCWD, 0, 0, &r), 0);
	cr_assert_str_eq(r->group, "@file-write");
	td_policy_free(p);
}

Test(decide, file_read_opens_read_only)
{
	struct td_policy *p = parse_ok("allow @file-read\n");

	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC, NULL), 0);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_WRONLY, NULL),
		     EPERM);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDONLY | O_CREAT,
			    NULL), EPERM);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDONLY | O_TRUNC,
			    NULL), EPERM);
	cr_assert_eq(decide(p, SYS_unlinkat, AT_FDCWD, 0, 0, NULL), EPERM);
	td_policy_free(p);
}

Test(groups, every_group_parses_and_resolves)
{
	for (const struct td_policy_group *g = td_policy_groups; g->name;
	     g++) {
		char text[64];
		struct td_policy *p;
		size_t n = 0;

		cr_assert(td_policy_group_find(g->name) == g);
		cr_assert(g->what && *g->what);
		snprintf(text, sizeof(text), "allow %s\n", g->name);
		p = parse_ok(text);
		for (const char *const *e = g->syscalls; *e; e++)
			n++;
		cr_assert_gt(p->nrules, n / 2, "%s: %zu of %zu resolved",
			     g->name, p->nrules, n);
		for (size_t i = 0; i < p->nrules; i++)
			cr_assert_str_eq(p->rules[i].group, g->name);
		td_policy_free(p);
	}
	cr_assert_null(td_policy_group_find("@everything"));
}

Test(groups, conflicting_groups_need_a_direct_rule)
{
	struct td_policy *p;

	cr_assert_eq(parse("default allow\nallow @file-read\n"
			   "deny @file-write EROFS\n", &p), -EINVAL);
	assert_error_on(3, "openat");
	p = parse_ok("default allow\nallow @file-read\n"
		     "deny @file-write EROFS\n"
		     "deny openat EROFS arg2 & O_ACCMODE == O_WRONLY\n"
		     "deny openat EROFS arg2 & O_ACCMODE == O_RDWR\n"
		     "deny open EROFS arg1 & O_ACCMODE == O_WRONLY\n"
		     "deny open EROFS arg1 & O_ACCMODE == O_RDWR\n");
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDWR, NULL), EROFS);
	cr_assert_eq(decide(p, SYS_openat, AT_FDCWD, 0, O_RDONLY, NULL), 0);
	cr_assert_eq(decide(p, SYS_unlinkat, AT_FDCWD, 0, 0, NULL), EROFS);
	td_policy_free(p);
}

Test(decide, may_allow)
{
	struct td_policy *p = parse_ok("default deny\n"
				       "allow kill arg1 == SIGTERM\n");

	cr_assert(td_policy_may_allow(p, SYS_kill));
	cr_assert_not(td_policy_may_allow(p, SYS_fsync));
	td_policy_free(p);
	p = parse_ok("default allow\ndeny fsync\n"
		     "deny read arg0 == 5\n");
	cr_assert_not(td_policy_may_allow(p, SYS_fsync));
	cr_assert(td_policy_may_allow(p, SYS_read));
	cr_assert(td_policy_may_allow(p, SYS_write));
	td_policy_free(p);
}

Test(format, rules_and_default)
{
	struct td_policy *p = parse_ok(
		"default deny EACCES\n"
		"allow openat arg2 & O_ACCMODE == O_RDONLY\n"
		"deny mkdirat ENOSPC arg2 == 0700 and arg0 != 3\n"
		"allow @time\n");
	char buf[256], *out = NULL;
	size_t len = 0;
	FILE *f;

	td_rule_format(p, NULL, buf, sizeof(buf));
	cr_assert_str_eq(buf, "default: deny EACCES");
	for (size_t i = 0; i < p->nrules; i++) {
		td_rule_format(p, &p->rules[i], buf, sizeof(buf));
		if (p->rules[i].nr == SYS_openat)
			cr_assert_str_eq(buf, "2: allow openat (257) if arg2 "
					 "& 0x3 == 0x0");
		if (p->rules[i].nr == SYS_mkdirat)
			cr_assert_str_eq(buf, "3: deny mkdirat (258) ENOSPC if "
					 "arg2 == 0x1c0 and arg0 != 0x3");
		if (p->rules[i].nr == SYS_nanosleep)
			cr_assert_str_eq(buf, "4: allow nanosleep (35) "
					 "[@time]");
	}
	/* truncation is snprintf's: no overrun, the full length back */
	cr_assert_gt(td_rule_format(p, &p->rules[0], buf, 8), 7);
	cr_assert_eq(strlen(buf), 7);

	f = open_memstream(&out, &len);
	td_policy_print(p, f);
	fclose(f);
	cr_assert(strncmp(out, "default: deny EACCES\n", 21) == 0, "%s", out);
	cr_assert_eq(count_lines(out), p->nrules + 1);
	free(out);
	td_policy_free(p);
}

/* ---- td_policy_load: what it opens ------------------------------------ */

static char dir[] = "/tmp/tpolicy.XXXXXX";

static void mkdir_init(void)
{
	cr_assert(mkdtemp(dir));
}

static void mkdir_fini(void)
{
	char cmd[64];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(load, .init = mkdir_init, .fini = mkdir_fini, .timeout = 30);

static int load(const char *path, struct td_policy **p)
{
	FILE *f = fmemopen(errbuf, sizeof(errbuf), "w");
	int rc;

	memset(errbuf, 0, sizeof(errbuf));
	rc = td_policy_load(path, f, p);
	fclose(f);
	return rc;
}

Test(load, files_symlinks_and_sizes)
{
	char path[128], link[128];
	struct td_policy *p;
	FILE *f;

	snprintf(path, sizeof(path), "%s/ok.policy", dir);
	f = fopen(path, "w");
	cr_assert(f);
	fputs("default allow\ndeny mkdirat\n", f);
	fclose(f);
	cr_assert_eq(load(path, &p), 0, "%s", errbuf);
	cr_assert_str_eq(p->path, path);
	cr_assert_eq(p->nrules, 1);
	td_policy_free(p);

	snprintf(link, sizeof(link), "%s/link.policy", dir);
	cr_assert_eq(symlink(path, link), 0);
	cr_assert_eq(load(link, &p), -ELOOP);
	cr_assert(strstr(errbuf, "symlinks are refused"), "%s", errbuf);

	cr_assert_eq(load(dir, &p), -EINVAL);
	cr_assert(strstr(errbuf, "not a regular file"), "%s", errbuf);
	/* a FIFO nobody writes to: refused, not waited on */
	snprintf(link, sizeof(link), "%s/fifo.policy", dir);
	cr_assert_eq(mkfifo(link, 0600), 0);
	cr_assert_eq(load(link, &p), -EINVAL);
	cr_assert(strstr(errbuf, "not a regular file"), "%s", errbuf);

	snprintf(path, sizeof(path), "%s/missing", dir);
	cr_assert_eq(load(path, &p), -ENOENT);
	cr_assert(strstr(errbuf, path), "%s", errbuf);

	snprintf(path, sizeof(path), "%s/big.policy", dir);
	f = fopen(path, "w");
	cr_assert(f);
	for (unsigned i = 0; i < TD_POLICY_FILE_MAX / 8 + 1; i++)
		fputs("#123456\n", f);
	fclose(f);
	cr_assert_eq(load(path, &p), -EFBIG);
	cr_assert(strstr(errbuf, "too large"), "%s", errbuf);
}

/* ---- the filter, for real --------------------------------------------- */

/* In a child: load the policy's filter (with getpid as the process's own
 * need), try nr with the args, report -errno or the result. */
static long under_filter(const char *text, const int *extra, size_t nextra,
			 long nr, long a0, long a1, long a2)
{
	struct td_policy *p = parse_ok(text);
	int pfd[2];
	long got = 0;
	pid_t pid;
	int st;

	cr_assert_eq(pipe(pfd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		scmp_filter_ctx ctx;
		long rc;

		close(pfd[0]);
		if (td_policy_filter(p, extra, nextra, &ctx) < 0 ||
		    seccomp_load(ctx) < 0)
			_exit(3);
		rc = syscall(nr, a0, a1, a2);
		if (rc < 0)
			rc = -errno;
		/* write is allowed by every policy used here; the exit is
		 * the raw call, since a sanitizer's _exit makes calls of
		 * its own that the filter may refuse */
		syscall(SYS_exit_group,
			write(pfd[1], &rc, sizeof(rc)) == sizeof(rc) ? 0 : 4);
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &got, sizeof(got)), sizeof(got),
		     "the child died before answering");
	close(pfd[0]);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
	td_policy_free(p);
	return got;
}

static const int needs[] = { SYS_write, SYS_exit_group, SYS_exit };

Test(filter, kernel_agrees_with_user_space)
{
	const char *deny = "default deny EACCES\n"
			   "allow kill arg1 == 0\n"
			   "deny getppid ENOSPC\n"
			   "allow getuid\n";

	cr_assert_eq(under_filter(deny, needs, 3, SYS_getuid, 0, 0, 0),
		     (long)getuid());
	cr_assert_eq(under_filter(deny, needs, 3, SYS_getgid, 0, 0, 0),
		     -EACCES, "the default");
	cr_assert_eq(under_filter(deny, needs, 3, SYS_getppid, 0, 0, 0),
		     -ENOSPC, "the rule's errno");
	cr_assert_eq(under_filter(deny, needs, 3, SYS_kill, getpid(), 0, 0),
		     0, "kill with signal 0 is allowed");
	cr_assert_eq(under_filter(deny, needs, 3, SYS_kill, getpid(), SIGCONT,
				  0), -EACCES);

	const char *allow = "default allow\n"
			    "deny mkdirat EROFS\n"
			    "deny openat EROFS arg2 & O_ACCMODE == O_WRONLY\n"
			    "deny openat EROFS arg2 & O_ACCMODE == O_RDWR\n";
	char path[64];

	snprintf(path, sizeof(path), "/tmp/tpolicy-mk.%d", getpid());
	cr_assert_eq(under_filter(allow, NULL, 0, SYS_mkdirat, AT_FDCWD,
				  (long)path, 0700), -EROFS);
	cr_assert_eq(access(path, F_OK), -1, "%s was made", path);
	cr_assert_eq(under_filter(allow, NULL, 0, SYS_openat, AT_FDCWD,
				  (long)path, O_WRONLY | O_CREAT), -EROFS);
	cr_assert_geq(under_filter(allow, NULL, 0, SYS_openat, AT_FDCWD,
				   (long)"/dev/null", O_RDONLY), 0);
}

Test(filter, the_process_needs_win_over_the_policy)
{
	/* getppid is denied by the policy and needed by "the process" */
	int extra[] = { SYS_write, SYS_exit_group, SYS_getppid };

	cr_assert_eq(under_filter("deny getppid\n", extra, 3, SYS_getppid,
				  0, 0, 0), (long)getpid());
}
