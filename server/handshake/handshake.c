/*
 * Reconnect: every controller, first or returning, attaches the same
 * way.  It connects to the listening socket and sends one packet: a
 * HELLO frame with its fresh syscall and data sockets attached
 * (SCM_RIGHTS).  Those two sockets become the connection; the listening
 * socket's connection only ever carries this handshake and its answer.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_SCM_MAX_FD 253		/* SCM_MAX_FD: what one message may carry */

struct td_hello {
	uint64_t id;
	uint64_t version;
	uint64_t flags;
	int64_t pid;
	uint64_t expect_gen;		/* take over only this generation */
	int fds[TD_SCM_MAX_FD];
	unsigned nfds;
	char err[256];
	const char *cause;		/* TP_CAUSE_* of a refusal, or NULL */
	bool not_yet;			/* recvmsg: EAGAIN, nothing read */
};

/* Who may connect, and to do what: the server's uid and root, and the
 * --allow-uid / --allow-gid lists (primary or supplementary group, as
 * SO_PEERGROUPS tells), get full access; --read-only-uid may only
 * observe. */
enum td_peer_role td_peer_role(const struct td_server *srv, int fd,
			       uid_t uid, gid_t gid)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	size_t ng = 0;

	if (uid == srv->uid || uid == 0)
		return TD_PEER_FULL;
	for (size_t i = 0; i < srv->listen.nallow_uids; i++)
		if (srv->listen.allow_uids[i] == uid)
			return TD_PEER_FULL;
	if (srv->listen.nallow_gids && fd >= 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		ng = len / sizeof(gid_t);
	for (size_t i = 0; i < srv->listen.nallow_gids; i++) {
		if (srv->listen.allow_gids[i] == gid)
			return TD_PEER_FULL;
		for (size_t j = 0; j < ng; j++)
			if (srv->listen.allow_gids[i] == groups[j])
				return TD_PEER_FULL;
	}
	for (size_t i = 0; i < srv->listen.nro_uids; i++)
		if (srv->listen.ro_uids[i] == uid)
			return TD_PEER_READONLY;
	return TD_PEER_REFUSED;
}

/* Answer on the handshake socket; it is one small packet. */
static void td_handshake_send(int fd, struct tp_msg *m)
{
	if (send(fd, tp_msg_data(m), tp_msg_size(m),
		 MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		td_log("handshake answer: %s", strerror(errno));
}

static void td_handshake_refuse(int fd, uint64_t id, int err, const char *text,
				const char *cause)
{
	struct tp_msg m;

	tp_msg_init(&m);
	if (tp_msg_error_cause(&m, id, err, cause, "%s", text) == 0)
		td_handshake_send(fd, &m);
	tp_msg_destroy(&m);
}

static void td_handshake_arm(struct td_handshake *hs)
{
	struct io_uring_sqe *sqe = td_sqe(hs->srv);

	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, hs->fd, POLLIN);
	io_uring_sqe_set_data(sqe, &hs->ev);
}

/* End a handshake in progress: its poll still completes, and frees it
 * then (the ring holds a pointer to it until that completion). */
static void td_handshake_stop(struct td_handshake *hs)
{
	struct io_uring_sqe *sqe;

	hs->done = true;
	td_timer_stop(hs->srv, &hs->deadline);
	if ((sqe = td_sqe(hs->srv))) {
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&hs->ev, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
}

/* ... and hang up on the peer. */
static void td_handshake_drop(struct td_handshake *hs)
{
	if (hs->done)
		return;
	shutdown(hs->fd, SHUT_RDWR);
	td_handshake_stop(hs);
}

/* A peer that connects and says nothing is dropped, not kept. */
static void td_handshake_expired(struct td_timer *t)
{
	struct td_handshake *hs = (struct td_handshake *)((char *)t -
				  offsetof(struct td_handshake, deadline));

	td_log("handshake from pid %d uid %u timed out", (int)hs->peer_pid,
	       (unsigned)hs->peer_uid);
	td_handshake_refuse(hs->fd, 0, ETIMEDOUT,
			    "no HELLO within the time limit", NULL);
	td_handshake_drop(hs);
}

/* Room for one more handshake of this peer's class and uid?  Each class
 * has slots of its own, so no peer takes the owner's. */
static bool td_handshake_room(const struct td_server *srv,
			      enum td_peer_role role, uid_t uid)
{
	unsigned in_class = 0, of_uid = 0;

	for (const struct td_handshake *hs = srv->listen.handshakes; hs;
	     hs = hs->next) {
		if (hs->done)
			continue;
		in_class += hs->role == role;
		of_uid += hs->role == role && hs->peer_uid == uid;
	}
	switch (role) {
	case TD_PEER_FULL:
		return in_class < TD_HS_FULL_MAX && of_uid < TD_HS_FULL_PER_UID;
	case TD_PEER_READONLY:
		return in_class < TD_HS_RO_MAX && of_uid < TD_HS_RO_PER_UID;
	default:
		return in_class < TD_HS_REFUSED_MAX;
	}
}

static bool td_handshake_run(struct td_handshake *hs, bool early);

void td_handshake_accepted(struct td_server *srv, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct td_handshake *hs;
	enum td_peer_role role;
	bool allowed;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		td_log("SO_PEERCRED: %s", strerror(errno));
		td_ifd_close(fd);
		return;
	}
	role = td_peer_role(srv, fd, cred.uid, cred.gid);
	allowed = role != TD_PEER_REFUSED;
	if (!allowed)
		td_log_at(LOG_WARNING, "audit: refusing connection from pid "
			  "%d: uid %u gid %u is not allowed (server uid %u; "
			  "see --allow-uid, --allow-gid, --read-only-uid)",
			  (int)cred.pid, (unsigned)cred.uid, (unsigned)cred.gid,
			  (unsigned)srv->uid);
	/* A refusal waits for the peer's HELLO too: answering and closing
	 * with its packet unread would reach it as a bare ECONNRESET. */
	if (!td_handshake_room(srv, role, cred.uid) ||
	    !(hs = calloc(1, sizeof(*hs)))) {
		td_log("refused connection from pid %d uid %u: too many "
		       "handshakes of its kind", (int)cred.pid,
		       (unsigned)cred.uid);
		td_handshake_refuse(fd, 0, allowed ? EAGAIN : EACCES,
				    allowed ? "too many handshakes in progress"
					    : "uid not allowed", NULL);
		td_ifd_close(fd);
		return;
	}
	hs->srv = srv;
	hs->fd = fd;
	hs->peer_pid = cred.pid;
	hs->peer_uid = cred.uid;
	hs->role = role;
	hs->refuse = allowed ? 0 : EACCES;
	hs->ev.kind = TD_EV_HANDSHAKE;
	hs->ev.obj = hs;
	td_timer_init(&hs->deadline, td_handshake_expired);
	hs->next = srv->listen.handshakes;
	srv->listen.handshakes = hs;
	srv->listen.nhandshakes++;
	/* A controller sends its HELLO right after connect(), so it is
	 * mostly here already: read it now, and only if it is not, wait
	 * for it (a poll and a deadline, two more trips through the ring). */
	if (td_handshake_run(hs, true))
		return;
	td_timer_in(srv, &hs->deadline, role == TD_PEER_FULL
					   ? TD_HS_TIMEOUT_MS
					   : TD_HS_TIMEOUT_RO_MS);
	td_handshake_arm(hs);
}

static void td_hello_close_fds(struct td_hello *h)
{
	for (unsigned i = 0; i < h->nfds; i++)
		if (h->fds[i] >= 0)
			close(h->fds[i]);
	h->nfds = 0;
}

static int td_hello_fail(struct td_hello *h, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int td_hello_fail(struct td_hello *h, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(h->err, sizeof(h->err), fmt, ap);
	va_end(ap);
	return -err;
}

/* Take every fd the packet carried, whatever else is wrong with it:
 * what we do not keep we must close. */
static void td_hello_collect(struct msghdr *msg, struct td_hello *h)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n && h->nfds < TD_SCM_MAX_FD; i++)
			memcpy(&h->fds[h->nfds++],
			       CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
	}
}

/* Two getsockopt calls: the first fails with ENOTSOCK on anything but a
 * socket, so no fstat is needed to tell. */
static int td_hello_check_socket(struct td_hello *h, unsigned i)
{
	int v = -1;
	socklen_t len = sizeof(v);

	if (getsockopt(h->fds[i], SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 &&
	    errno == ENOTSOCK)
		return td_hello_fail(h, ENOTSOCK,
				     "passed fd %u is not a socket", i);
	if (len != sizeof(v) || v != AF_UNIX)
		return td_hello_fail(h, EPROTOTYPE,
				     "passed fd %u is not an AF_UNIX socket",
				     i);
	len = sizeof(v);
	if (getsockopt(h->fds[i], SOL_SOCKET, SO_TYPE, &v, &len) < 0 ||
	    v != SOCK_STREAM)
		return td_hello_fail(h, EPROTOTYPE,
				     "passed fd %u is not a SOCK_STREAM socket",
				     i);
	return 0;
}

static int td_hello_parse(const unsigned char *buf, size_t n,
			  struct td_hello *h)
{
	struct tp_hello m;
	struct tp_err e;
	struct tp_in in;
	uint32_t plen;
	int rc;

	if (n < TETHER_FRAME_HDR)
		return td_hello_fail(h, EPROTO, "handshake packet too short");
	plen = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	       (uint32_t)buf[2] << 8 | buf[3];
	if (plen != n - TETHER_FRAME_HDR)
		return td_hello_fail(h, EPROTO,
				     "handshake frame length %u, packet %zu",
				     plen, n - TETHER_FRAME_HDR);
	rc = tp_decode(buf + TETHER_FRAME_HDR, plen, &in);
	h->id = in.have_id ? in.id : 0;
	if (rc < 0) {
		tp_in_destroy(&in);
		return td_hello_fail(h, EPROTO, "handshake is not a request");
	}
	if (in.code != TETHER_OP_HELLO)
		rc = td_hello_fail(h, EPROTO, "expected HELLO (op %d), got op "
				   "%lld", TETHER_OP_HELLO,
				   (long long)in.code);
	else if ((rc = tp_unpack_hello(in.body, &m, &e)) < 0)
		rc = td_hello_fail(h, -rc, "%s", e.msg);
	else if ((h->version = m.version, h->flags = m.flags, h->pid = m.pid,
		  h->expect_gen = m.generation,
		  h->version != TETHER_PROTO_VERSION))
		rc = td_hello_fail(h, EPROTONOSUPPORT,
				   "protocol version %llu not supported "
				   "(this tetherd speaks %d)",
				   (unsigned long long)h->version,
				   TETHER_PROTO_VERSION);
	tp_in_destroy(&in);
	return rc;
}

/* An observer slot of the peer's class and uid, or why not.  Observers
 * never count against a controller: attaching has no slot to fill. */
static int td_observer_room(struct td_server *srv,
			    const struct td_handshake *hs,
			    struct td_hello *h)
{
	unsigned in_class = 0, of_uid = 0, max, per_uid;

	for (const struct td_conn *c = srv->conns.all; c; c = c->next) {
		if (!c->observer || c->closing || c->role != hs->role)
			continue;
		in_class++;
		of_uid += c->peer_uid == hs->peer_uid;
	}
	max = hs->role == TD_PEER_FULL ? TD_OBS_FULL_MAX : TD_OBS_RO_MAX;
	per_uid = hs->role == TD_PEER_FULL ? TD_OBS_FULL_PER_UID
					   : TD_OBS_RO_PER_UID;
	if (in_class >= max)
		return td_hello_fail(h, EAGAIN, "too many observers (%u of "
				     "this kind connected)", in_class);
	if (of_uid >= per_uid)
		return td_hello_fail(h, EAGAIN, "too many observers of uid %u "
				     "(%u connected)", (unsigned)hs->peer_uid,
				     of_uid);
	return 0;
}

/* The role the peer gets, or why not. */
static int td_hello_admit(struct td_server *srv,
			  const struct td_handshake *hs, struct td_hello *h)
{
	struct td_conn *cur = srv->conns.controller;
	char when[32] = "?";
	struct tm tm;

	if (srv->stopping)
		return td_hello_fail(h, ESHUTDOWN, "tetherd is shutting down");
	if (h->flags & ~(uint64_t)(TETHER_HELLO_TAKEOVER | TETHER_HELLO_OBSERVE |
				   TETHER_HELLO_PROBE | TETHER_HELLO_CAUSE))
		return td_hello_fail(h, EINVAL, "unknown HELLO flags 0x%llx",
				     (unsigned long long)h->flags);
	if (h->flags & TETHER_HELLO_OBSERVE)
		return td_observer_room(srv, hs, h);
	if (cur) {
		gmtime_r(&cur->since, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	/* Take-over names the generation it means to replace: of two
	 * racing take-overs of the same controller, exactly one wins. */
	h->cause = TP_CAUSE_CONFLICT;	/* the refusals below */
	if (h->expect_gen && h->expect_gen != srv->conns.generation)
		return td_hello_fail(h, EBUSY, "generation is %llu, not %llu: "
				     "another controller attached meanwhile "
				     "(%s%.0d)",
				     (unsigned long long)srv->conns.generation,
				     (unsigned long long)h->expect_gen,
				     cur ? "now attached by pid "
					 : "and has gone since",
				     cur ? (int)cur->peer_pid : 0);
	if (!cur || (h->flags & TETHER_HELLO_TAKEOVER)) {
		h->cause = NULL;
		return 0;
	}
	return td_hello_fail(h, EBUSY, "attached by pid %d since %s",
			     (int)cur->peer_pid, when);
}

/* The answer to a HELLO that attached c -- or, c NULL, to a PROBE: the
 * status STATUS answers too, with what a connection's attach says. */
static void td_hello_answer(struct td_server *srv, int fd, uint64_t id,
			    const struct td_conn *c)
{
	struct tp_status st = { .has = TP_STATUS_SYSCALL_FD |
				       TP_STATUS_DATA_FD };
	struct tp_msg m;
	int rc;

	td_status_common(srv, &st);
	st.generation = c ? c->generation : srv->conns.generation;
	st.syscall_fd = c ? c->sfd : -1;
	st.data_fd = c ? c->dfd : -1;
	if (!c) {
		st.has |= TP_STATUS_ATTACHED | TP_STATUS_CONTROLLER_PID;
		st.attached = srv->conns.controller != NULL;
		st.controller_pid = srv->conns.controller
				    ? srv->conns.controller->peer_pid : 0;
	}
	/* A PROBE is answered as an observer would be. */
	st.observer = c ? c->observer : true;
	tp_msg_init(&m);
	tp_msg_reply(&m, id, 0);
	tp_pack_status(&m.w, &st);
	/* An answer that could not be built is an error the peer hears. */
	if ((rc = tp_msg_finish(&m)) < 0) {
		tp_msg_destroy(&m);
		tp_msg_init(&m);
		rc = tp_msg_error(&m, id, -rc, "building the answer: %s",
				  strerror(-rc));
	}
	if (rc == 0)
		td_handshake_send(fd, &m);
	tp_msg_destroy(&m);
}

/* Tell the controller being replaced who replaces it, then let it go.
 * Best effort and never blocking: the notice goes after whatever is
 * still queued for old, as far as its socket takes it now (a flush even
 * when POLLOUT is armed: this is the last chance); what does not fit is
 * dropped with the connection. */
static void td_taken_over_notice(struct td_conn *old, const struct td_conn *by)
{
	char text[96];
	struct tp_taken_over n = {
		.pid = by->peer_pid,
		.uid = by->peer_uid,
		.generation = by->generation,
	};
	struct tp_msg m;

	snprintf(text, sizeof(text), "taken over by pid %d uid %u",
		 (int)by->peer_pid, (unsigned)by->peer_uid);
	n.text = tp_str(text);
	tp_msg_init(&m);
	tp_msg_reply(&m, 0, ECONNABORTED);
	tp_pack_taken_over(&m.w, &n);
	if (tp_msg_finish(&m) == 0 && td_conn_queue(old, &m) == 0 &&
	    !td_conn_gone(old))
		td_conn_flush(old);
	tp_msg_destroy(&m);
	if (td_conn_unsent(old))
		td_log("controller pid %d: take-over notice not delivered "
		       "(%zu bytes unread)", (int)old->peer_pid,
		       td_conn_unsent(old));
}

/* Read the HELLO packet and, if it is right, make its sockets the
 * (or an observer) connection.  Any fd we do not keep is closed. */
static int td_handshake_hello(struct td_handshake *hs, struct td_hello *h)
{
	struct td_server *srv = hs->srv;
	unsigned char buf[4096];
	union {
		char b[CMSG_SPACE(sizeof(int) * TD_SCM_MAX_FD)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	struct td_conn *c, *old;
	int sfd, dfd, rc;
	ssize_t n;

	/* A controller that just exited (tetherctl run twice in a row) is
	 * still attached until its end of file is read: read it now rather
	 * than refuse its successor.  Now, before the HELLO's fds arrive:
	 * catching up runs the calls that controller has sent meanwhile
	 * (requests behind its own HELLO, often), and until adopted those
	 * fds sit at the lowest free numbers, where a close or dup2 of its
	 * would reach them (test_pipeline
	 * catching_up_never_reaches_a_hellos_sockets). */
	if (srv->conns.controller && !hs->refuse)
		td_conn_catch_up(srv->conns.controller);
	n = recvmsg(hs->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		h->not_yet = errno == EAGAIN;
		return td_hello_fail(h, errno, "recvmsg: %s", strerror(errno));
	}
	td_hello_collect(&msg, h);
	if (hs->refuse)
		return td_hello_fail(h, hs->refuse, "uid %u may not connect to "
				     "this tetherd (uid %u)",
				     (unsigned)hs->peer_uid,
				     (unsigned)srv->uid);
	if (n == 0 && !h->nfds)
		return td_hello_fail(h, ECONNRESET, "closed before HELLO");
	/* The buffer holds SCM_MAX_FD: what did not fit had no free slot
	 * in our table (or an LSM refused it).  With the spares given up
	 * the controller's retry (EAGAIN) finds room. */
	if ((msg.msg_flags & MSG_CTRUNC) && hs->role == TD_PEER_FULL &&
	    td_spare_release())
		return td_hello_fail(h, EAGAIN, "tetherd's fd table is full "
				     "(RLIMIT_NOFILE): spare slots freed, "
				     "try again");
	if (msg.msg_flags & MSG_CTRUNC)
		return td_hello_fail(h, EMFILE, "tetherd could not take the "
				     "fds passed: its fd table is full "
				     "(RLIMIT_NOFILE)");
	if (msg.msg_flags & MSG_TRUNC)
		return td_hello_fail(h, EMSGSIZE, "handshake packet over %zu "
				     "bytes", sizeof(buf));
	if ((rc = td_hello_parse(buf, (size_t)n, h)) < 0)
		return rc;
	/* PROBE: the status a take-over needs, no slot taken, no fds kept
	 * (a read-only peer may look too). */
	if (h->flags & TETHER_HELLO_PROBE) {
		if (h->flags != TETHER_HELLO_PROBE)
			return td_hello_fail(h, EINVAL, "PROBE goes alone");
		td_hello_answer(srv, hs->fd, h->id, NULL);
		return 0;
	}
	if (hs->role == TD_PEER_READONLY && !(h->flags & TETHER_HELLO_OBSERVE)) {
		h->cause = TP_CAUSE_ROLE;
		return td_hello_fail(h, EACCES, "uid %u is read-only on this "
				     "tetherd: it may observe (status, fds, "
				     "ps, logs), not attach",
				     (unsigned)hs->peer_uid);
	}
	if (h->nfds != 2)
		return td_hello_fail(h, EINVAL, "expected 2 fds (syscall and "
				     "data sockets), got %u", h->nfds);
	if ((rc = td_hello_check_socket(h, 0)) < 0 ||
	    (rc = td_hello_check_socket(h, 1)) < 0)
		return rc;
	if ((rc = td_hello_admit(srv, hs, h)) < 0)
		return rc;

	sfd = td_ifd_adopt_urgent(h->fds[0], "syscall socket");
	dfd = td_ifd_adopt_urgent(h->fds[1], "data socket");
	h->fds[0] = h->fds[1] = -1;
	/* The syscall socket is read and written with MSG_DONTWAIT only
	 * (conn/, reply/), so it needs no O_NONBLOCK; the data socket
	 * gets it for the file transfers' sake. */
	if (sfd < 0 || dfd < 0 || fcntl(dfd, F_SETFL, O_NONBLOCK) < 0 ||
	    !(c = td_conn_new(srv, sfd, dfd))) {
		td_ifd_close(sfd);
		td_ifd_close(dfd);
		return td_hello_fail(h, EMFILE, "no room for the connection");
	}
	c->peer_pid = hs->peer_pid;
	c->peer_uid = hs->peer_uid;
	c->role = hs->role;
	c->observer = h->flags & TETHER_HELLO_OBSERVE;
	c->causes = h->flags & TETHER_HELLO_CAUSE;
	if (c->observer) {
		srv->conns.nobservers++;
		c->generation = srv->conns.generation;
	} else {
		c->generation = ++srv->conns.generation;
		if ((old = srv->conns.controller)) {
			td_taken_over_notice(old, c);
			td_conn_close(old, "taken over");
		}
		srv->conns.controller = c;
	}
	td_log("%s pid %d uid %u attached (generation %llu)",
	       c->observer ? "observer" : "controller", (int)c->peer_pid,
	       (unsigned)c->peer_uid, (unsigned long long)c->generation);
	td_hello_answer(srv, hs->fd, h->id, c);
	/* The requests a pipelining client sent behind the HELLO are run
	 * now, not a loop turn later; their answers go with this turn's
	 * end, after the HELLO's: such a client waits on its first call's
	 * answer, not the HELLO's (libtether, pipeline.c), so it is woken
	 * once and finds both.  Not flushed here: a queue that stopped the
	 * reading (a burst of big answers) resumes it when the ring's send
	 * completes, and a send of our own would never complete.  The
	 * handshake socket is closed first: the requests would see it (in
	 * a LIST_FDS, say) where no request ever saw it before. */
	td_ifd_close(hs->fd);
	hs->fd = -1;
	td_conn_first_read(c);
	return 0;
}

static void td_handshake_free(struct td_handshake *hs)
{
	struct td_handshake **pp = &hs->srv->listen.handshakes;

	while (*pp && *pp != hs)
		pp = &(*pp)->next;
	if (*pp)
		*pp = hs->next;
	hs->srv->listen.nhandshakes--;
	td_timer_stop(hs->srv, &hs->deadline);
	if (hs->fd >= 0)
		td_ifd_close(hs->fd);
	free(hs);
}

/* Read the HELLO and answer it (attached, or refused), then free hs;
 * false, hs kept, when early says the HELLO may not be here yet and it
 * is not. */
static bool td_handshake_run(struct td_handshake *hs, bool early)
{
	struct td_hello h;
	int rc;

	memset(&h, 0, sizeof(h));
	rc = td_handshake_hello(hs, &h);
	if (early && h.not_yet)
		return false;
	if (rc < 0) {
		td_log_at(LOG_WARNING, "audit: handshake from pid %d uid %u "
			  "refused: %s", (int)hs->peer_pid,
			  (unsigned)hs->peer_uid, h.err);
		td_handshake_refuse(hs->fd, h.id, -rc, h.err,
				    h.flags & TETHER_HELLO_CAUSE ? h.cause
								 : NULL);
	}
	td_hello_close_fds(&h);
	td_handshake_free(hs);
	return true;
}

void td_handshake_event(struct td_handshake *hs, int res)
{
	if (hs->done || res == -ECANCELED) {
		td_handshake_free(hs);
		return;
	}
	td_timer_stop(hs->srv, &hs->deadline);
	/* An upgrade began earlier in this turn: attached now, the peer
	 * would be closed again at the turn's end. */
	if (hs->srv->upgrade.draining) {
		td_listen_hold(hs->srv, hs->fd);
		hs->fd = -1;
		td_handshake_free(hs);
		return;
	}
	td_handshake_run(hs, false);
}

/* Shutting down: drop handshakes in progress. */
void td_handshakes_closeall(struct td_server *srv)
{
	for (struct td_handshake *hs = srv->listen.handshakes; hs; hs = hs->next)
		td_handshake_drop(hs);
}

/* A handshake in the list is waiting for its HELLO (one that was there
 * ran at accept), so its socket still holds it: the next binary, or this
 * one once the drain gives up, starts it again.  Dropped instead, the
 * peer saw its connection reset by an upgrade it did not ask for. */
void td_handshakes_hold(struct td_server *srv)
{
	for (struct td_handshake *hs = srv->listen.handshakes; hs;
	     hs = hs->next) {
		if (hs->done)
			continue;
		td_listen_hold(srv, hs->fd);
		hs->fd = -1;
		td_handshake_stop(hs);
	}
}
