/*
 * Start a tetherd as our child.  Until made persistent it carries
 * PDEATHSIG=SIGKILL, so a controller that dies during set-up takes it
 * along.  Readiness (or the reason it could not start, exec failure
 * included) comes back through a pipe: "READY <pid>" / "ERROR <errno> ...".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "libtether.h"

#define TL_START_TIMEOUT_MS 10000
#define TL_MAX_ARGS 64

static const char *tl_tetherd_path(const struct tether_start_opts *o)
{
	const char *env = getenv("TETHERD");

	if (o && o->tetherd)
		return o->tetherd;
	if (env && *env)
		return env;
	return TETHERD_PATH;
}

/* In the child: never returns. */
static void tl_start_child(const char *exe, char *const argv[], int ready,
			   pid_t parent)
{
	sigset_t none;
	int null;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(127);
	/* The server starts with no signal of ours blocked. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Our stdout must not be held open by a server that outlives us. */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	/* Nothing of ours leaks into the server's fd table. */
	if (ready > 3)
		syscall(SYS_close_range, 3, ready - 1, 0);
	syscall(SYS_close_range, ready + 1, ~0U, 0);
	fcntl(ready, F_SETFD, 0);
	execv(exe, argv);
	dprintf(ready, "ERROR %d cannot execute %s: %s\n", errno, exe,
		strerror(errno));
	_exit(127);
}

static int tl_start_wait(struct tether *t, int fd, pid_t pid)
{
	char buf[512];
	size_t len = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int err = 0, off = 0;

	while (len < sizeof(buf) - 1) {
		int r = poll(&pfd, 1, TL_START_TIMEOUT_MS);
		ssize_t n;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return tl_fail(t, ETIMEDOUT, "tetherd did not report "
				       "readiness within %d ms",
				       TL_START_TIMEOUT_MS);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (sscanf(buf, "READY %d", &off) == 1 && off == pid)
		return 0;
	if (sscanf(buf, "ERROR %d %n", &err, &off) == 1 && err > 0)
		return tl_fail(t, err, "%s", buf + off);
	return tl_fail(t, ECHILD, "tetherd exited before it was ready");
}

static int tl_start_argv(const struct tether_start_opts *o, const char *path,
			 const char *exe, char *ready, char *argv[])
{
	int n = 0;

	argv[n++] = (char *)exe;
	argv[n++] = (char *)"--socket";
	argv[n++] = (char *)path;
	argv[n++] = (char *)"--ready-fd";
	argv[n++] = ready;
	if (o && o->log_path) {
		argv[n++] = (char *)"--log";
		argv[n++] = (char *)o->log_path;
	}
	if (o && o->policy) {
		argv[n++] = (char *)"--policy";
		argv[n++] = (char *)o->policy;
	}
	for (int i = 0; o && o->extra_args && o->extra_args[i]; i++) {
		if (n >= TL_MAX_ARGS - 1)
			return -E2BIG;
		argv[n++] = (char *)o->extra_args[i];
	}
	argv[n] = NULL;
	return 0;
}

TETHER_API int tether_start(const struct tether_start_opts *user,
			    struct tether **out)
{
	struct tether *t = tl_alloc();
	struct tether_start_opts o, *opts = &o;
	const char *exe;
	char path[4096], ready[16];
	char *argv[TL_MAX_ARGS];
	int pfd[2] = { -1, -1 }, rc;
	pid_t pid, self = getpid();

	*out = NULL;
	if (!t)
		return -ENOMEM;
	if ((rc = tl_opts_in(t, &o, sizeof(o), user,
			     TL_V1_SIZE(struct tether_start_opts, policy))) < 0)
		goto fail;
	exe = tl_tetherd_path(opts);
	if (opts->socket_path)
		snprintf(path, sizeof(path), "%s", opts->socket_path);
	else if (tp_default_socket_path(path, sizeof(path)) < 0) {
		rc = tl_fail(t, ENAMETOOLONG, "no default socket path");
		goto fail;
	}
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		rc = tl_fail(t, errno, "pipe: %s", strerror(errno));
		goto fail;
	}
	/* The child points 0 and 1 at /dev/null: keep the pipe clear. */
	if (pfd[1] < 3) {
		int fd = fcntl(pfd[1], F_DUPFD_CLOEXEC, 3);

		close(pfd[1]);
		pfd[1] = fd;
		if (fd < 0) {
			rc = tl_fail(t, errno, "fcntl: %s", strerror(errno));
			goto fail;
		}
	}
	snprintf(ready, sizeof(ready), "%d", pfd[1]);
	if (tl_start_argv(opts, path, exe, ready, argv) < 0) {
		rc = tl_fail(t, E2BIG, "too many tetherd arguments");
		goto fail;
	}
	pid = fork();
	if (pid < 0) {
		rc = tl_fail(t, errno, "fork: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0)
		tl_start_child(exe, argv, pfd[1], self);
	close(pfd[1]);
	pfd[1] = -1;
	t->child = pid;
	if ((rc = tl_start_wait(t, pfd[0], pid)) < 0 ||
	    (rc = tl_connect(t, path, 0, TETHER_UID_NONE)) < 0)
		goto fail;
	close(pfd[0]);
	*out = t;
	return 0;
fail:
	if (t->child > 0) {
		kill(t->child, SIGKILL);
		waitpid(t->child, NULL, 0);
	}
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	tl_set_orphan_error(t->err);
	tl_free(t);
	return rc;
}
