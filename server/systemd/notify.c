/*
 * Notifications to the service manager (sd_notify(3)'s protocol): one
 * datagram per message, "KEY=value" lines, fds attached for FDSTORE=1.
 *
 * Never waiting: the socket is ours, connected once to NOTIFY_SOCKET and
 * non-blocking, so a manager whose queue is full makes a send fail with
 * EAGAIN instead of stopping the loop.  Such messages wait in order in a
 * bounded queue, sent when a poll says the manager reads again; past the
 * bound they are dropped and counted.  Connected, not sendto() each
 * time: POLLOUT on a connected datagram socket tells when the peer has
 * room.  The loop's thread alone uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tetherd.h"

struct td_notify_msg {
	struct td_notify_msg *next;
	int fd;				/* internal copy to attach, or -1 */
	size_t len;
	char text[];
};

bool td_notify_on(const struct td_server *srv)
{
	return srv->notify.fd >= 0;
}

/* NOTIFY_SOCKET: a path, or '@' for the abstract namespace. */
static int td_notify_addr(const char *env, struct sockaddr_un *sa,
			  socklen_t *len)
{
	size_t n = strlen(env);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if ((env[0] != '/' && env[0] != '@') || n < 2)
		return -EAFNOSUPPORT;	/* vsock: and the like */
	if (n >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	memcpy(sa->sun_path, env, n);
	if (env[0] == '@')
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			   (env[0] == '/'));
	return 0;
}

/* After an UPGRADE's exec: the socket the previous binary connected
 * (already the server's own, or -1), and READY=1 long said. */
void td_notify_adopt(struct td_server *srv, int fd, const char *addr)
{
	struct td_notify *nt = &srv->notify;

	nt->tail = &nt->head;
	nt->ev.kind = TD_EV_NOTIFY;
	nt->ev.obj = srv;
	nt->fd = fd;
	nt->ready = fd >= 0;
	snprintf(nt->addr, sizeof(nt->addr), "%s", addr);
}

int td_notify_open(struct td_server *srv, char *err, size_t errsz)
{
	struct td_notify *nt = &srv->notify;
	const char *env = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	int fd, rc;

	nt->tail = &nt->head;
	nt->ev.kind = TD_EV_NOTIFY;
	nt->ev.obj = srv;
	if (!env || !*env)
		return 0;
	snprintf(nt->addr, sizeof(nt->addr), "%s", env);
	/* Ours alone: workers must not speak for us. */
	unsetenv("NOTIFY_SOCKET");
	if ((rc = td_notify_addr(nt->addr, &sa, &len)) < 0)
		goto fail;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, len) < 0) {
		rc = -errno;
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	if ((fd = td_ifd_adopt(fd, "notify")) < 0) {
		rc = fd;
		goto fail;
	}
	nt->fd = fd;
	return 0;
fail:
	snprintf(err, errsz, "NOTIFY_SOCKET=%s: %s", nt->addr, strerror(-rc));
	return rc;
}

/* One datagram now: 0, -EAGAIN (try again later) or another -errno. */
static int td_notify_put(struct td_notify *nt, const struct td_notify_msg *m)
{
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)m->text, m->len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (m->fd >= 0) {
		msg.msg_control = cbuf.b;
		msg.msg_controllen = sizeof(cbuf.b);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &m->fd, sizeof(int));
	}
	while (sendmsg(nt->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return 0;
}

static void td_notify_pop(struct td_notify *nt)
{
	struct td_notify_msg *m = nt->head;

	if (!(nt->head = m->next))
		nt->tail = &nt->head;
	nt->queued--;
	if (m->fd >= 0)
		td_ifd_close(m->fd);
	free(m);
}

/* What the queue holds, in order, as far as the manager takes it; a
 * poll armed for the rest. */
static void td_notify_drain(struct td_server *srv)
{
	struct td_notify *nt = &srv->notify;
	struct io_uring_sqe *sqe;
	int rc;

	while (nt->head) {
		if ((rc = td_notify_put(nt, nt->head)) == -EAGAIN)
			break;
		if (rc < 0)
			td_log_at(LOG_WARNING, "notification to %s lost: %s",
				  nt->addr, strerror(-rc));
		td_notify_pop(nt);
	}
	if (!nt->head || nt->armed || srv->exiting || !(sqe = td_sqe(srv)))
		return;
	io_uring_prep_poll_add(sqe, nt->fd, POLLOUT);
	io_uring_sqe_set_data(sqe, &nt->ev);
	nt->armed = true;
}

void td_notify_send(struct td_server *srv, const char *text, int fd)
{
	struct td_notify *nt = &srv->notify;
	size_t len = strlen(text);
	struct td_notify_msg *m;

	if (nt->fd < 0)
		return;
	if (nt->queued >= TD_NOTIFY_QUEUE ||
	    !(m = malloc(sizeof(*m) + len + 1))) {
		nt->dropped++;
		td_log_at(LOG_WARNING, "notification to %s dropped (%u queued): "
			  "%.*s", nt->addr, nt->queued,
			  (int)strcspn(text, "\n"), text);
		return;
	}
	m->next = NULL;
	m->len = len;
	memcpy(m->text, text, len + 1);
	m->fd = -1;
	/* The copy is made in the internal band: a controller's call on a
	 * helper thread cannot meet it at a low number. */
	if (fd >= 0 && (m->fd = fcntl(fd, F_DUPFD_CLOEXEC, TD_IFD_FLOOR)) >= 0)
		m->fd = td_ifd_adopt(m->fd, "fd store");
	else if (fd >= 0)
		m->fd = -errno;
	if (fd >= 0 && m->fd < 0) {
		td_log_at(LOG_WARNING, "notification to %s: copy of fd %d: %s",
			  nt->addr, fd, strerror(-m->fd));
		free(m);
		return;
	}
	*nt->tail = m;
	nt->tail = &m->next;
	nt->queued++;
	td_notify_drain(srv);
}

/* "controller pid 41 attached (generation 3), 2 workers running, 1
 * labelled fd": what systemctl status shows. */
static void td_notify_status_text(struct td_server *srv, char *buf,
				  size_t size)
{
	const struct td_conn *c = srv->conns.controller;
	unsigned w = srv->workers.nrunning, l = srv->fds.nlabels;
	int n;

	if (srv->stopping)
		n = snprintf(buf, size, "shutting down, ");
	else if (c)
		n = snprintf(buf, size, "controller pid %d attached "
			     "(generation %llu), ", (int)c->peer_pid,
			     (unsigned long long)c->generation);
	else
		n = snprintf(buf, size, "no controller attached, ");
	snprintf(buf + n, size - (size_t)n, "%u worker%s running, %u "
		 "labelled fd%s", w, w == 1 ? "" : "s", l, l == 1 ? "" : "s");
}

void td_notify_ready(struct td_server *srv)
{
	char text[sizeof(srv->notify.status) + 32];

	if (!td_notify_on(srv))
		return;
	td_notify_status_text(srv, srv->notify.status,
			      sizeof(srv->notify.status));
	snprintf(text, sizeof(text), "READY=1\nSTATUS=%s\n",
		 srv->notify.status);
	srv->notify.ready = true;
	td_notify_send(srv, text, -1);
}

void td_notify_stopping(struct td_server *srv)
{
	char text[sizeof(srv->notify.status) + 32];

	if (!td_notify_on(srv))
		return;
	td_notify_status_text(srv, srv->notify.status,
			      sizeof(srv->notify.status));
	snprintf(text, sizeof(text), "STOPPING=1\nSTATUS=%s\n",
		 srv->notify.status);
	td_notify_send(srv, text, -1);
}

/* What the status says, in numbers: the loop compares them after every
 * batch of events, and formats a line only when they changed. */
static bool td_notify_changed(const struct td_server *srv,
			      struct td_notify_said *said)
{
	const struct td_conn *c = srv->conns.controller;
	struct td_notify_said now = {
		.generation = c ? c->generation : 0,
		.pid = c ? (int)c->peer_pid : 0,
		.workers = srv->workers.nrunning,
		.labels = srv->fds.nlabels,
		.stopping = srv->stopping,
	};

	if (now.generation == said->generation && now.pid == said->pid &&
	    now.workers == said->workers && now.labels == said->labels &&
	    now.stopping == said->stopping)
		return false;
	*said = now;
	return true;
}

void td_notify_flush(struct td_server *srv)
{
	struct td_notify *nt = &srv->notify;
	char now[sizeof(nt->status)], text[sizeof(now) + 16];

	if (nt->fd < 0 || !nt->ready || !td_notify_changed(srv, &nt->said))
		return;
	td_notify_status_text(srv, now, sizeof(now));
	if (strcmp(now, nt->status)) {
		memcpy(nt->status, now, sizeof(now));
		snprintf(text, sizeof(text), "STATUS=%s\n", now);
		td_notify_send(srv, text, -1);
	}
}

void td_notify_event(struct td_server *srv, int res)
{
	(void)res;
	srv->notify.armed = false;
	td_notify_drain(srv);
}

void td_notify_close(struct td_server *srv)
{
	struct td_notify *nt = &srv->notify;

	if (nt->fd >= 0)
		td_notify_drain(srv);	/* a last chance, without waiting */
	while (nt->head)
		td_notify_pop(nt);
	if (nt->dropped)
		td_log_at(LOG_WARNING, "%llu notifications to %s dropped",
			  nt->dropped, nt->addr);
	if (nt->fd >= 0)
		td_ifd_close(nt->fd);
	nt->fd = -1;
}
