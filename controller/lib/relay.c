/*
 * The controller's end of a remote connection.  A relay child (forked,
 * not exec'd: it allocates nothing, every buffer was made before the
 * fork) starts ssh as its own child, sends the OPEN frame, passes the
 * answer to the handle, then relays (mux.c) between ssh's stdio and the
 * handle's two sockets.  Its life is tied to the handle by those
 * sockets: when the controller closes them or dies, the relay sees EOF,
 * ends both channels, and ssh's end reaches dial-stdio, which detaches
 * from tetherd; ssh in turn dies with the relay (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mux.h"
#include "relay.h"

#define TL_RELAY_LINGER_MS 10000	/* the far side ending, after ours */
#define TL_RELAY_SSH_MS 5000		/* ssh exiting, after that */

/* Every fd but 0-2 and keep[0..n) closed (close_range per gap). */
static void tl_close_except(int *keep, int n)
{
	int lo = 3, tmp;

	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j] < keep[j - 1]; j--) {
			tmp = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = tmp;
		}
	for (int i = 0; i < n; i++) {
		if (keep[i] > lo)
			close_range((unsigned)lo, (unsigned)keep[i] - 1, 0);
		if (keep[i] >= lo)
			lo = keep[i] + 1;
	}
	close_range((unsigned)lo, ~0u, 0);
}

/* The ssh child: its stdio are the two pipes, nothing else is open;
 * SIGINT and SIGQUIT stay ignored (ssh keeps an ignored SIGINT so), so
 * the terminal's Ctrl-C reaches the controller, which cancels. */
static void tl_relay_exec_ssh(char *const *argv, int in, int out, pid_t relay)
{
	sigset_t none;

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != relay)
		_exit(127);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0)
		_exit(127);
	close_range(3, ~0u, 0);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	dprintf(2, "libtether: cannot run ssh: %s\n", strerror(errno));
	_exit(127);
}

/* The relay's refusal when dial-stdio never answered, in its words. */
static void tl_relay_no_answer(int sfd, const char *host, pid_t ssh, int rc)
{
	unsigned char p[8 + TL_MUX_TEXT_MAX];
	int st = 0, n, err = ECONNREFUSED;

	if (rc == -EPROTO) {
		kill(ssh, SIGTERM);
		err = EPROTO;
	}
	while (waitpid(ssh, &st, 0) < 0 && errno == EINTR)
		;
	if (rc == -EPROTO)
		n = snprintf((char *)p + 8, TL_MUX_TEXT_MAX + 1, "ssh %s: the "
			     "remote command's output is not tetherctl "
			     "dial-stdio's (a tetherctl without it, or a login "
			     "script writing to stdout?)", host);
	else if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
		n = snprintf((char *)p + 8, TL_MUX_TEXT_MAX + 1, "ssh %s: no "
			     "tetherctl there (exit 127; "
			     "TETHER_REMOTE_TETHERCTL names another)", host);
	else if (WIFEXITED(st))
		n = snprintf((char *)p + 8, TL_MUX_TEXT_MAX + 1, "ssh %s "
			     "failed (exit %d) before dial-stdio answered",
			     host, WEXITSTATUS(st));
	else
		n = snprintf((char *)p + 8, TL_MUX_TEXT_MAX + 1, "ssh %s "
			     "killed by signal %d before dial-stdio answered",
			     host, WTERMSIG(st));
	if (n > (int)TL_MUX_TEXT_MAX)
		n = TL_MUX_TEXT_MAX;
	tl_put32(p, (uint32_t)err);
	tl_put32(p + 4, TETHER_CAUSE_CONNECTION);
	tl_mux_send(sfd, TL_MUX_ERROR, TL_MUX_CTL, p, 8 + (size_t)n);
}

/* After the relay: ssh's stdin closed, a few seconds for it to see the
 * far side end (its stdout's EOF), then it is ended. */
static void tl_relay_reap(int from_ssh, pid_t ssh)
{
	struct pollfd p = { .fd = from_ssh, .events = POLLIN };
	char sink[4096];

	while (poll(&p, 1, TL_RELAY_SSH_MS) > 0 &&
	       read(from_ssh, sink, sizeof(sink)) > 0)
		;
	kill(ssh, SIGTERM);
	while (waitpid(ssh, NULL, 0) < 0 && errno == EINTR)
		;
}

struct tl_relay {
	char *const *argv;
	const char *host;
	unsigned char open[TL_MUX_OPEN_LEN];
	int sfd, dfd;		/* the relay's ends of the handle's sockets */
	int to_ssh[2], from_ssh[2];
	int devnull;
	struct tl_mux m;
};

static void __attribute__((noreturn)) tl_relay_child(struct tl_relay *r)
{
	unsigned char p[4 + TL_ANSWER_MAX];
	int keep[4] = { r->sfd, r->dfd, r->to_ssh[1], r->from_ssh[0] };
	unsigned type;
	size_t len;
	pid_t ssh;
	char err[160];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGCHLD, SIG_DFL);
	/* not the controller's stdin and stdout: a reader of its output
	 * must not wait for us */
	dup2(r->devnull, 0);
	dup2(r->devnull, 1);
	if ((ssh = fork()) < 0)
		_exit(1);
	if (ssh == 0)
		tl_relay_exec_ssh(r->argv, r->to_ssh[0], r->from_ssh[1],
				  getppid());
	tl_close_except(keep, 4);
	tl_mux_send(r->to_ssh[1], TL_MUX_OPEN, TL_MUX_CTL, r->open,
		    sizeof(r->open));
	rc = tl_mux_recv(r->from_ssh[0],
			 1u << TL_MUX_ANSWER | 1u << TL_MUX_ERROR, &type, p,
			 sizeof(p), &len, err, sizeof(err));
	if (rc < 0) {
		tl_relay_no_answer(r->sfd, r->host, ssh, rc);
		_exit(1);
	}
	if (tl_mux_send(r->sfd, type, TL_MUX_CTL, p, len) == 0 &&
	    type == TL_MUX_ANSWER) {
		r->m.linger_ms = TL_RELAY_LINGER_MS;
		/* a far side that breaks the rules is worth a word: the
		 * controller only sees its connection end */
		if (tl_mux_run(&r->m) == -EPROTO)
			dprintf(2, "libtether: ssh %s: %s\n", r->host,
				r->m.err);
	}
	close(r->sfd);
	close(r->dfd);
	close(r->to_ssh[1]);
	tl_relay_reap(r->from_ssh[0], ssh);
	_exit(0);
}

/* A new fd at 3 or above: 0-2 are the relay's stdio. */
static int tl_fd_high(int fd)
{
	int nfd;

	if (fd < 0 || fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

static int tl_relay_fds(struct tether *t, struct tl_relay *r, int *sp,
			int *dp)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, dp) < 0 ||
	    pipe2(r->to_ssh, O_CLOEXEC) < 0 ||
	    pipe2(r->from_ssh, O_CLOEXEC) < 0 ||
	    (r->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		return tl_fail(t, errno, "relay: %s", strerror(errno));
	for (int i = 0; i < 2; i++) {
		sp[i] = tl_fd_high(sp[i]);
		dp[i] = tl_fd_high(dp[i]);
		r->to_ssh[i] = tl_fd_high(r->to_ssh[i]);
		r->from_ssh[i] = tl_fd_high(r->from_ssh[i]);
	}
	if (sp[0] < 0 || sp[1] < 0 || dp[0] < 0 || dp[1] < 0 ||
	    r->to_ssh[0] < 0 || r->to_ssh[1] < 0 || r->from_ssh[0] < 0 ||
	    r->from_ssh[1] < 0)
		return tl_fail(t, EMFILE, "relay: out of fds");
	r->sfd = sp[1];
	r->dfd = dp[1];
	return 0;
}

/* The relay's first frame on our syscall socket: the answer. */
static int tl_relay_answer(struct tether *t, int sfd, const char *host)
{
	unsigned char p[4 + TL_ANSWER_MAX];
	unsigned type;
	size_t len;
	uint32_t err, cause;
	int rc;

	rc = tl_mux_recv(sfd, 1u << TL_MUX_ANSWER | 1u << TL_MUX_ERROR,
			 &type, p, sizeof(p), &len, t->err, sizeof(t->err));
	if (rc < 0)
		return tl_fail(t, rc == -ECONNRESET ? ECONNRESET : EPROTO,
			       "ssh %s: the relay ended before an answer",
			       host);
	if (type == TL_MUX_ANSWER) {
		t->causes = tl_get32(p) & 1u;
		return tl_answer_parse(t, p + 4, len - 4);
	}
	err = tl_get32(p);
	cause = tl_get32(p + 4);
	if (!err || err >= 4096)
		err = EPROTO;
	t->cause = cause <= TETHER_CAUSE_CONNECTION ? (int)cause
						    : TETHER_CAUSE_REQUEST;
	return tl_fail(t, (int)err, "%.*s", (int)(len - 8), (char *)p + 8);
}

static void tl_relay_close(struct tl_relay *r, int *sp, int *dp)
{
	int *fds[] = { &sp[0], &sp[1], &dp[0], &dp[1], &r->to_ssh[0],
		       &r->to_ssh[1], &r->from_ssh[0], &r->from_ssh[1],
		       &r->devnull };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

/* ssh [-l USER] [-p PORT] -T -x -- HOST COMMAND */
static void tl_relay_argv(const struct tl_ssh *s, const char **argv)
{
	int n = 0;

	argv[n++] = "ssh";
	if (s->user[0]) {
		argv[n++] = "-l";
		argv[n++] = s->user;
	}
	if (s->port[0]) {
		argv[n++] = "-p";
		argv[n++] = s->port;
	}
	argv[n++] = "-T";
	argv[n++] = "-x";
	argv[n++] = "--";
	argv[n++] = s->host;
	argv[n++] = s->command;
	argv[n] = NULL;
}

int tl_relay_start(struct tether *t, const struct tl_ssh *s, unsigned flags,
		   uid_t server_uid)
{
	struct tl_relay r = { .sfd = -1, .dfd = -1, .to_ssh = { -1, -1 },
			      .from_ssh = { -1, -1 }, .devnull = -1,
			      .host = s->host };
	int sp[2] = { -1, -1 }, dp[2] = { -1, -1 }, rc;
	const char *argv[12];
	pid_t pid;

	tl_relay_argv(s, argv);
	r.argv = (char *const *)argv;
	tl_put32(r.open, TL_MUX_VERSION);
	tl_put32(r.open + 4, flags);
	tl_put32(r.open + 8, server_uid == TETHER_UID_NONE ? TL_MUX_NO_UID
							   : (uint32_t)server_uid);
	if ((rc = tl_relay_fds(t, &r, sp, dp)) < 0)
		goto out;
	if ((rc = tl_mux_init(&r.m, r.from_ssh[0], r.to_ssh[1], sp[1],
			      dp[1])) < 0) {
		rc = tl_fail(t, -rc, "out of memory");
		goto out;
	}
	if ((pid = fork()) < 0) {
		rc = tl_fail(t, errno, "fork: %s", strerror(errno));
		goto out_mux;
	}
	if (pid == 0)
		tl_relay_child(&r);
	t->relay = pid;
	close(sp[1]);
	close(dp[1]);
	sp[1] = dp[1] = -1;
	tl_relay_close(&r, (int[2]){ -1, -1 }, (int[2]){ -1, -1 });
	if ((rc = tl_relay_answer(t, sp[0], s->host)) < 0)
		goto out_mux;
	t->sfd = sp[0];
	t->dfd = dp[0];
	t->can_pass_fds = false;
	sp[0] = dp[0] = -1;
out_mux:
	tl_mux_free(&r.m);
out:
	tl_relay_close(&r, sp, dp);
	return rc;
}
