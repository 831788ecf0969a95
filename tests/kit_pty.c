/* The pty harness (kit_pty.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "fixture.h"
#include "kit.h"
#include "kit_pty.h"

void kpty_start(struct kpty *p, char *const argv[], char *const env[])
{
	struct winsize ws = { .ws_row = 50, .ws_col = 200 };

	memset(p, 0, sizeof(*p));
	p->pid = forkpty(&p->master, NULL, NULL, &ws);
	cr_assert_geq(p->pid, 0, "forkpty: %s", strerror(errno));
	if (p->pid == 0) {
		fx_forked();
		/* nothing of the test's: above all not its server sockets */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		execv(argv[0], argv);
		_exit(127);
	}
	fx_track(p->pid);
	fcntl(p->master, F_SETFL, O_NONBLOCK);
}

/* Read what is there, waiting up to ms for the first byte; false at EOF
 * (the slave side closed: the program ended). */
static bool kpty_read(struct kpty *p, int ms)
{
	struct pollfd pfd = { .fd = p->master, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return true;
	for (;;) {
		if (p->len + 1 >= sizeof(p->out)) {
			/* keep the newer half */
			size_t keep = sizeof(p->out) / 2;

			memmove(p->out, p->out + p->len - keep, keep);
			p->seen = p->seen > p->len - keep ? p->seen - (p->len - keep) : 0;
			p->len = keep;
		}
		n = read(p->master, p->out + p->len, sizeof(p->out) - 1 - p->len);
		if (n > 0) {
			p->len += (size_t)n;
			p->out[p->len] = '\0';
			continue;
		}
		if (n < 0 && errno == EAGAIN)
			return true;
		return false;	/* EIO once the slave is closed */
	}
}

bool kpty_expect(struct kpty *p, const char *needle)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	bool open = true;
	char *at;

	for (;;) {
		if ((at = strstr(p->out + p->seen, needle))) {
			p->seen = (size_t)(at - p->out) + strlen(needle);
			return true;
		}
		if (!open || kit_now_ms() > end)
			return false;
		open = kpty_read(p, 50);
	}
}

void kpty_must(struct kpty *p, const char *needle)
{
	if (!kpty_expect(p, needle))
		cr_assert_fail("no \"%s\" on the terminal after:\n%s", needle,
			       p->out + (p->seen > 2000 ? p->seen - 2000 : 0));
}

void kpty_drain(struct kpty *p, int ms)
{
	int64_t end = kit_now_ms() + ms;

	while (kit_now_ms() < end && kpty_read(p, 20))
		;
}

void kpty_send(struct kpty *p, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(p->master, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		cr_assert_gt(w, 0, "write to the pty: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
}

int kpty_wait(struct kpty *p)
{
	int64_t end = kit_now_ms() + FX_DEADLINE_MS;
	pid_t r;

	while (!p->reaped) {
		kpty_read(p, 20);
		r = waitpid(p->pid, &p->status, WNOHANG);
		if (r == p->pid) {
			p->reaped = true;
			fx_untrack(p->pid);
			break;
		}
		if (kit_now_ms() > end) {
			kpty_end(p);
			return -1;
		}
	}
	kpty_read(p, 0);
	return WIFEXITED(p->status) ? WEXITSTATUS(p->status)
				    : 128 + WTERMSIG(p->status);
}

void kpty_end(struct kpty *p)
{
	if (!p->reaped && p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
		p->reaped = true;
		fx_untrack(p->pid);
	}
	if (p->master >= 0)
		close(p->master);
	p->master = -1;
}
