/*
 * Ctrl-C: SIGINT interrupts the verb that runs, not tetherctl's state.
 * The handler only writes a byte to a self-pipe; libtether watches the
 * pipe in every wait for the server (tether_set_interrupt_fd) and ends
 * the wait with -EINTR, and attach's line reader watches it at the
 * prompt.  SA_RESTART keeps every other read and write whole.  A third
 * SIGINT before the first is handled ends the process (130): a verb that
 * does not wait through libtether (a data transfer) can still be left.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"

/* Polls, 10 ms apart, for a cancelled request to end: a helper thread
 * is woken by a signal, so this is quick unless the kernel holds it. */
#define CTL_INTR_SETTLE_TRIES 200

static int ctl_intr_pipe[2] = { -1, -1 };
static volatile sig_atomic_t ctl_intr_hits;
/* Set while nothing could notice the pipe (a script's next line is
 * awaited in stdio): SIGINT then ends us at once. */
static volatile sig_atomic_t ctl_intr_fatal;

static void ctl_intr_handler(int sig)
{
	int e = errno;

	(void)sig;
	if (++ctl_intr_hits >= 3 || ctl_intr_fatal)
		_exit(CTL_EX_INTERRUPTED);
	if (write(ctl_intr_pipe[1], "", 1) < 0) {
		/* full: it is readable, which is all that counts */
	}
	errno = e;
}

int ctl_intr_install(void)
{
	struct sigaction sa;

	if (ctl_intr_pipe[0] >= 0)
		return 0;
	if (pipe2(ctl_intr_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = ctl_intr_handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) < 0)
		return -errno;
	return 0;
}

void ctl_intr_set_fatal(bool fatal)
{
	ctl_intr_fatal = fatal;
}

int ctl_intr_fd(void)
{
	return ctl_intr_pipe[0];
}

/* The count, or a byte in the pipe: a SIGINT that came while
 * ctl_intr_clear ran still counts, whichever half of it it undid. */
bool ctl_intr_taken(void)
{
	struct pollfd p = { .fd = ctl_intr_pipe[0], .events = POLLIN };

	return ctl_intr_hits > 0 ||
	       (ctl_intr_pipe[0] >= 0 && poll(&p, 1, 0) > 0);
}

void ctl_intr_clear(void)
{
	char buf[64];

	ctl_intr_hits = 0;
	if (ctl_intr_pipe[0] >= 0)
		while (read(ctl_intr_pipe[0], buf, sizeof(buf)) > 0)
			;
}

/* Is request id among v[0..n)? */
static bool ctl_intr_listed(const struct tether_pending *v, size_t n,
			    uint64_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].id == id)
			return true;
	return false;
}

/* After an interrupted `call` or `batch`: the server still runs what we
 * stopped waiting for.  Ours is the one request of our generation that
 * runs and is waited for (we ask one thing at a time); cancel it, so a
 * read on an empty pipe does not hold a helper thread until data comes.
 * Then wait (a little) until it has ended: its answer comes to this
 * connection and is skipped, where after a disconnect it would be
 * parked for a collect nobody makes.  Returns how many were cancelled,
 * or -errno. */
int ctl_intr_cancel(struct tether *t)
{
	const struct tether_status *me = tether_info(t);
	struct tether_pending *v = NULL;
	uint64_t ids[8];
	size_t n = 0, nids = 0;
	int rc;

	ctl_intr_clear();
	if (!me)
		return -ENOTCONN;
	if ((rc = tether_pending(t, &v, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && nids < 8; i++) {
		if (v[i].generation != me->generation || !v[i].waited ||
		    strcmp(v[i].state, "running"))
			continue;
		if (tether_cancel(t, v[i].id) == 0)
			ids[nids++] = v[i].id;
	}
	tether_free(v);
	for (int tries = 0; nids && tries < CTL_INTR_SETTLE_TRIES; tries++) {
		bool left = false;

		if (tether_pending(t, &v, &n) < 0)
			break;
		for (size_t k = 0; k < nids; k++)
			left |= ctl_intr_listed(v, n, ids[k]);
		tether_free(v);
		if (!left)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 },
			  NULL);
	}
	return (int)nids;
}
