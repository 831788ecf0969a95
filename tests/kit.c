/* The test kit: the clock and kids (see kit.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kit.h"

/* $TETHERD for kid_start_server, read before the fork: a kid must not
 * call Criterion, and fx_tetherd() asserts. */
static const char *kid_tetherd;

/* ---- time ------------------------------------------------------------ */

static int64_t kit_clock_ms(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t kit_now_ms(void)
{
	return kit_clock_ms(CLOCK_MONOTONIC);
}

int64_t kit_epoch_ms(void)
{
	return kit_clock_ms(CLOCK_REALTIME);
}

void kit_nap_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

void kit_nap_ms(long ms)
{
	kit_nap_us(ms * 1000);
}

/* ---- kids, from the test --------------------------------------------- */

/* In the new kid: its fds in place (report pipe w at KID_W, give at
 * KID_FD), nothing else of ours, the uid asked for; then fn. */
static void __attribute__((noreturn))
kid_run(int w, int give, bool ro, void (*fn)(void *arg), void *arg)
{
	int g = -1;

	fx_forked();
	/* Out of the way first: w or give may sit at 3 or 4. */
	w = fcntl(w, F_DUPFD, 10);
	if (give >= 0)
		g = fcntl(give, F_DUPFD, 10);
	if (w < 0 || dup2(w, KID_W) < 0 || (give >= 0 && g < 0) ||
	    (g >= 0 && dup2(g, KID_FD) < 0))
		_exit(126);
	syscall(SYS_close_range, give >= 0 ? KID_FD + 1 : KID_W + 1, ~0U, 0);
	signal(SIGPIPE, SIG_IGN);
	if (ro) {
		if (setgroups(0, NULL) < 0 || setgid(KID_RO_UID) < 0 ||
		    setuid(KID_RO_UID) < 0)
			_exit(124);
		/* A change of uid clears the parent-death signal. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	}
	fn(arg);
	_exit(0);
}

void kid_start_with(struct kid *k, void (*fn)(void *arg), void *arg,
		    int give, bool ro)
{
	int p[2];

	memset(k, 0, sizeof(*k));
	kid_tetherd = fx_tetherd();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL);
	k->pid = fork();
	cr_assert_geq(k->pid, 0, "fork: %s", strerror(errno));
	if (k->pid == 0)
		kid_run(p[1], give, ro, fn, arg);
	close(p[1]);
	k->rd = p[0];
	fx_track(k->pid);
}

void kid_start(struct kid *k, void (*fn)(void *arg), void *arg)
{
	kid_start_with(k, fn, arg, -1, false);
}

/* The first whole line of k->buf, taken out of it into line; false if
 * there is none yet. */
static bool kid_take_line(struct kid *k, char *line)
{
	char *nl = memchr(k->buf, '\n', k->len);
	size_t ll;

	if (!nl)
		return false;
	ll = (size_t)(nl - k->buf);
	memcpy(line, k->buf, ll);
	line[ll] = '\0';
	memmove(k->buf, nl + 1, k->len - ll - 1);
	k->len -= ll + 1;
	return true;
}

bool kid_line_within(struct kid *k, const char *word, char *out,
		     size_t size, int ms)
{
	int64_t end = kit_now_ms() + ms;
	size_t wl = strlen(word);
	char line[sizeof(k->buf)];

	for (;;) {
		struct pollfd pfd = { .fd = k->rd, .events = POLLIN };
		int left;
		ssize_t n;

		while (kid_take_line(k, line)) {
			if (!strncmp(line, "FAIL", 4))
				cr_assert_fail("kid %d: %s", (int)k->pid, line);
			if (strncmp(line, word, wl) ||
			    (line[wl] != ' ' && line[wl] != '\0'))
				continue;
			if (out)
				snprintf(out, size, "%s",
					 line[wl] ? line + wl + 1 : "");
			return true;
		}
		left = (int)(end - kit_now_ms());
		if (poll(&pfd, 1, left > 0 ? left : 0) <= 0)
			return false;
		n = read(k->rd, k->buf + k->len, sizeof(k->buf) - 1 - k->len);
		cr_assert_gt(n, 0, "kid %d died before reporting \"%s\"",
			     (int)k->pid, word);
		k->len += (size_t)n;
	}
}

void kid_line(struct kid *k, const char *word, char *out, size_t size)
{
	cr_assert(kid_line_within(k, word, out, size, KID_DEADLINE_MS),
		  "kid %d: no \"%s\" report in time", (int)k->pid, word);
}

long kid_num(struct kid *k, const char *word)
{
	char rest[256];

	kid_line(k, word, rest, sizeof(rest));
	return strtol(rest, NULL, 10);
}

/* Reap the kid, forget it (its pid may be someone else's by the end of
 * the test), close its pipe; its wait status. */
static int kid_wait(struct kid *k)
{
	int st;

	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	fx_untrack(k->pid);
	close(k->rd);
	k->rd = -1;
	return st;
}

void kid_kill(struct kid *k)
{
	int st;

	kill(k->pid, SIGKILL);
	st = kid_wait(k);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "kid %d ended with status 0x%x, not by SIGKILL", (int)k->pid,
		  st);
}

void kid_reap(struct kid *k)
{
	int st = kid_wait(k);

	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		  "kid %d ended with status 0x%x", (int)k->pid, st);
}

/* ---- in the kid ------------------------------------------------------ */

void kid_say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(KID_W, line, (size_t)n) < 0)
		_exit(125);
}

void kid_fail(const char *fmt, ...)
{
	char text[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	kid_say("FAIL %s", text);
	_exit(1);
}

void kid_hold(void)
{
	kid_say("HOLD");
	for (;;)
		pause();
}

struct tether *kid_connect(void)
{
	struct tether *t = NULL;
	int rc = fx_connect_retry(fx.sock, 0, &t);

	if (rc < 0)
		kid_fail("connect: %s (%s)", strerror(-rc),
			 tether_last_error(NULL));
	return t;
}

struct tether *kid_start_server(void)
{
	char log[160];
	struct tether_start_opts o = { .socket_path = fx.sock,
				       .tetherd = kid_tetherd,
				       .log_path = log };
	struct tether *t = NULL;
	int rc;

	snprintf(log, sizeof(log), "%s.log", fx.sock);
	if ((rc = tether_start(&o, &t)) < 0)
		kid_fail("tether_start: %s (%s)", strerror(-rc),
			 tether_last_error(NULL));
	kid_say("SERVER %d", (int)tether_info(t)->pid);
	return t;
}

void kid_get_to_fd(void *path)
{
	struct tether *t = kid_connect();
	int rc;

	kid_say("ATTACHED");
	rc = tether_get(t, path, KID_FD, NULL);
	kid_fail("tether_get returned %d (%s)", rc, tether_last_error(t));
}
