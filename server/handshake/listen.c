/*
 * The listening socket: a 0700 directory (which, and every parent up to
 * /, must be ours or root's), a 0600 SOCK_SEQPACKET socket
 * (one handshake message is one packet, fds and all), and an flock on
 * PATH.lock so a second server on the same path is refused and a stale
 * socket of a dead one can be replaced safely.
 *
 * Or the service manager's (socket activation): the same checks on its
 * directories and file, the same lock.  It may be SOCK_STREAM
 * (systemd-socket-activate makes that unless told --seqpacket): a
 * client's HELLO is one write with its fds, which a stream delivers in
 * one read as a packet would, so the handshake is the same.
 */
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tetherd.h"

void td_listen_dir(const char *path, char *dir)
{
	char *slash;

	strcpy(dir, path);
	/* A bare name lives in the working directory, "/x" in "/": both
	 * exist, and are checked all the same. */
	if (!(slash = strrchr(dir, '/')))
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
}

/* mkdir -p the socket's directory (what we create is 0700), then check
 * it and every parent up to /: each must be ours or root's and
 * writable by nobody else (sticky aside), or someone else could swap
 * the directory, and the socket in it, under us. */
int td_listen_mkdir(const char *dir, char *err, size_t errsz)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t n = strlen(dir);
	int e;

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			goto fail;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		goto fail;
	return tp_check_dir_chain(buf, getuid(), TP_UID_NONE, err, errsz);
fail:
	e = errno;
	snprintf(err, errsz, "cannot create %s: %s", buf, strerror(e));
	return -e;
}

static int td_listen_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int td_listen_lock_at(const char *lock_path, const char *socket_path,
		      char *err, size_t errsz)
{
	char pid[32] = "";
	int fd, n, rc;

	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errsz, "cannot open %s: %s", lock_path,
			 strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errsz, "another tetherd (pid %s) is serving %s",
			 *pid ? pid : "?", socket_path);
		close(fd);
		return rc;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		td_log("cannot record pid in %s: %s", lock_path,
		       strerror(errno));
	return fd;
}

/* Take PATH.lock, or say who holds it. */
static int td_listen_lock(struct td_server *srv, char *err, size_t errsz)
{
	if ((size_t)snprintf(srv->listen.lock_path,
			     sizeof(srv->listen.lock_path), "%s.lock",
			     srv->socket_path) >= sizeof(srv->listen.lock_path))
		return -ENAMETOOLONG;
	return td_listen_lock_at(srv->listen.lock_path, srv->socket_path, err,
				 errsz);
}

/* With the lock held, a socket file left behind is stale: a live
 * server would hold the lock.  (A server killed a moment ago may still
 * accept connections while the kernel tears down its ring; the lock,
 * not a probe, is what tells.) */
static int td_listen_clear_stale(const char *path, char *err, size_t errsz)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "%s exists and is not a socket", path);
		return -EEXIST;
	}
	td_log("replacing stale socket %s", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Out of fds a moment ago: try again. */
static void td_listen_retry(struct td_timer *t)
{
	struct td_listen *l = (struct td_listen *)((char *)t -
				offsetof(struct td_listen, accept_retry));

	l->accept_armed = false;
	td_listen_arm(l->srv);
}

/* The socket file of a passed socket: ours, and nobody else may
 * connect (write) to it -- what a socket we make is. */
static int td_listen_check_file(const char *path, ino_t *ino, char *err,
				size_t errsz)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "the passed socket's file %s is %s", path,
			 errno == ENOENT ? "gone" : "not a socket");
		return -ENOENT;
	}
	if (st.st_uid != getuid()) {
		snprintf(err, errsz, "the passed socket %s belongs to uid %u, "
			 "not to tetherd's uid %u (SocketUser=)", path,
			 (unsigned)st.st_uid, (unsigned)getuid());
		return -EACCES;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errsz, "the passed socket %s is mode %04o: others "
			 "could connect; make it 0600 (SocketMode=0600)", path,
			 (unsigned)st.st_mode & 07777);
		return -EACCES;
	}
	*ino = st.st_ino;
	return 0;
}

/* What kind of socket fd is: 0 if one tetherd can listen on (its type
 * into *type), else -errno with err saying what it is instead. */
static int td_listen_check_fd(int fd, const char *name, int *type, char *err,
			      size_t errsz)
{
	struct stat st;
	int v;
	socklen_t len = sizeof(v);

	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		snprintf(err, errsz, "passed fd \"%s\" is not a socket", name);
		return -ENOTSOCK;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0 ||
	    v != AF_UNIX) {
		snprintf(err, errsz, "passed socket \"%s\" is not AF_UNIX "
			 "(tetherd listens on a Unix socket: "
			 "ListenSequentialPacket=/path)", name);
		return -EAFNOSUPPORT;
	}
	len = sizeof(*type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) < 0 ||
	    (*type != SOCK_SEQPACKET && *type != SOCK_STREAM)) {
		snprintf(err, errsz, "passed socket \"%s\" is a datagram "
			 "socket: tetherd needs SOCK_SEQPACKET "
			 "(ListenSequentialPacket=) or SOCK_STREAM", name);
		return -EPROTOTYPE;
	}
	len = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || !v) {
		snprintf(err, errsz, "passed socket \"%s\" is not listening "
			 "(Accept=yes hands over connections; tetherd needs "
			 "Accept=no)", name);
		return -EINVAL;
	}
	return 0;
}

/* The passed socket's path: a file's, not abstract or unnamed (there
 * would be nothing whose permissions could be checked). */
static int td_listen_passed_path(struct td_server *srv, int fd,
				 const char *name, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	socklen_t len = sizeof(sa);
	size_t n;

	memset(&sa, 0, sizeof(sa));
	if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	n = len > offsetof(struct sockaddr_un, sun_path)
		    ? len - offsetof(struct sockaddr_un, sun_path) : 0;
	if (!n || !sa.sun_path[0]) {
		snprintf(err, errsz, "passed socket \"%s\" is %s: tetherd "
			 "needs one bound to a path", name,
			 n ? "abstract" : "unnamed");
		return -EINVAL;
	}
	if (n >= sizeof(sa.sun_path))
		n = sizeof(sa.sun_path) - 1;
	sa.sun_path[n] = '\0';
	if (srv->socket_path && strcmp(srv->socket_path, sa.sun_path)) {
		snprintf(err, errsz, "passed socket is %s, not --socket %s",
			 sa.sun_path, srv->socket_path);
		return -EINVAL;
	}
	snprintf(srv->listen.path, sizeof(srv->listen.path), "%s", sa.sun_path);
	srv->socket_path = srv->listen.path;
	return 0;
}

/* The service manager's socket, checked as one we would have made. */
static int td_listen_inherit(struct td_server *srv, char *err, size_t errsz)
{
	struct td_activation *a = &srv->activation;
	char dir[sizeof(srv->listen.path)];
	int type, rc;

	if ((rc = td_listen_check_fd(a->listen_fd, a->listen_name, &type, err,
				     errsz)) < 0 ||
	    (rc = td_listen_passed_path(srv, a->listen_fd, a->listen_name, err,
					errsz)) < 0)
		return rc;
	td_listen_dir(srv->socket_path, dir);
	if ((rc = tp_check_dir_chain(dir, getuid(), TP_UID_NONE, err,
				     errsz)) < 0 ||
	    (rc = td_listen_check_file(srv->socket_path,
				       &srv->listen.socket_ino, err,
				       errsz)) < 0)
		return rc;
	if ((rc = td_listen_lock(srv, err, errsz)) < 0)
		return rc;
	if ((srv->listen.lock_fd = td_ifd_adopt(rc, "lock")) < 0)
		return srv->listen.lock_fd;
	srv->listen.listen_fd = a->listen_fd;
	a->listen_fd = -1;
	srv->listen.inherited = true;
	srv->listen.stream = type == SOCK_STREAM;
	return 0;
}

int td_listen_open(struct td_server *srv, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)];
	int fd, rc;

	srv->listen.srv = srv;
	td_timer_init(&srv->listen.accept_retry, td_listen_retry);
	if (srv->activation.listen_fd >= 0)
		return td_listen_inherit(srv, err, errsz);
	if (!srv->socket_path) {
		if (tp_default_socket_path(srv->listen.path,
					   sizeof(srv->listen.path)) < 0) {
			snprintf(err, errsz, "cannot build a socket path");
			return -ENAMETOOLONG;
		}
		srv->socket_path = srv->listen.path;
	}

	if ((rc = td_listen_addr(srv->socket_path, &sa)) < 0) {
		snprintf(err, errsz, "socket path too long (max %zu bytes)",
			 sizeof(sa.sun_path) - 1);
		return rc;
	}
	td_listen_dir(srv->socket_path, dir);
	if ((rc = td_listen_mkdir(dir, err, errsz)) < 0)
		return rc;
	if ((rc = td_listen_lock(srv, err, errsz)) < 0)
		return rc;
	if ((srv->listen.lock_fd = td_ifd_adopt(rc, "lock")) < 0)
		return srv->listen.lock_fd;
	if ((fd = td_listen_bind(srv->socket_path, &srv->listen.socket_ino,
				 err, errsz)) < 0)
		return fd;
	srv->listen.listen_fd = td_ifd_adopt(fd, "listen");
	return srv->listen.listen_fd < 0 ? srv->listen.listen_fd : 0;
}

int td_listen_bind(const char *path, ino_t *ino, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd, rc;

	if ((rc = td_listen_addr(path, &sa)) < 0)
		return rc;
	if ((rc = td_listen_clear_stale(path, err, errsz)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* The file bind makes takes the socket's mode less the umask: 0600
	 * at most, with no umask(2) -- which is the whole process's, and a
	 * controller's umask call on the loop would race a helper's bind
	 * (relisten.c).  A umask that took the owner's bits too is undone
	 * on the path, in a directory only we may write. */
	if (fchmod(fd, 0600) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, TD_LISTEN_BACKLOG) < 0 || lstat(path, &st) < 0 ||
	    ((st.st_mode & 07777) != 0600 && chmod(path, 0600) < 0))
		goto fail;
	*ino = st.st_ino;
	return fd;
fail:
	rc = -errno;
	snprintf(err, errsz, "cannot listen on %s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

/* Accept connections, as many as come (multishot). */
void td_listen_arm(struct td_server *srv)
{
	struct io_uring_sqe *sqe;

	if (srv->listen.accept_armed || srv->stopping ||
	    srv->upgrade.draining || srv->listen.listen_fd < 0)
		return;
	if (!(sqe = td_sqe(srv)))
		return;
	io_uring_prep_multishot_accept(sqe, srv->listen.listen_fd, NULL, NULL,
				       SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data(sqe, &srv->listen.ev_accept);
	srv->listen.accept_armed = true;
}

static void td_listen_accepted(struct td_server *srv, int res, bool more);

/* The accepts of a batch are all adopted before any of their handshakes
 * runs: a HELLO admitted at once may catch up on the calls its old
 * controller left, and a call must not find another accepted socket
 * still at the low number the kernel gave it (write(4, ...) reached a
 * client's handshake socket: tests/fuzz/crashes/accept-race-catch-up). */
void td_listen_event(struct td_server *srv, int res, bool more)
{
	struct td_listen *l = &srv->listen;

	if (res >= 0 && (res = td_ifd_adopt_urgent(res, "handshake")) < 0)
		td_log("accepted connection: %s", strerror(-res));
	if (l->nbatch == l->batch_cap) {
		size_t cap = l->batch_cap ? l->batch_cap * 2 : 16;
		struct td_accepted *nb = realloc(l->batch, cap * sizeof(*nb));

		if (!nb) {
			/* Refused rather than handled out of turn. */
			if (res >= 0)
				td_ifd_close(res);
			res = -ENOMEM;
			td_listen_accepted(srv, res, more);
			return;
		}
		l->batch = nb;
		l->batch_cap = cap;
	}
	l->batch[l->nbatch++] = (struct td_accepted){ res, more };
}

void td_listen_batch_run(struct td_server *srv)
{
	struct td_listen *l = &srv->listen;

	for (size_t i = 0; i < l->nbatch; i++)
		td_listen_accepted(srv, l->batch[i].res, l->batch[i].more);
	l->nbatch = 0;
}

/* A connection, adopted (or a reason there is none). */
static void td_listen_accepted(struct td_server *srv, int res, bool more)
{
	if (!more)
		srv->listen.accept_armed = false;
	if (res >= 0 && srv->upgrade.draining) {
		/* Raced the accept's cancel: waits with the backlog. */
		td_listen_hold(srv, res);
	} else if (res >= 0) {
		td_handshake_accepted(srv, res);
	} else if (td_spare_emfile(res)) {
		/* The controller's calls filled the table: the spares make
		 * room for this one, and for the HELLO's two. */
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS ||
		   res == -ENOMEM) {
		/* Out of fds: back off instead of spinning. */
		td_log_at(LOG_WARNING, "accept: %s; retrying in 100 ms",
			  strerror(-res));
		if (!srv->listen.accept_armed) {
			td_timer_in(srv, &srv->listen.accept_retry, 100);
			srv->listen.accept_armed = true;
		}
		return;
	} else if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED &&
		   res != -ECANCELED) {
		td_log_at(LOG_WARNING, "accept: %s", strerror(-res));
	}
	td_listen_arm(srv);
}

/* An upgrade: connections wait in the backlog for the next binary. */
void td_listen_pause(struct td_server *srv)
{
	struct io_uring_sqe *sqe;

	if (srv->listen.accept_armed && (sqe = td_sqe(srv))) {
		io_uring_prep_cancel64(sqe,
			(uint64_t)(uintptr_t)&srv->listen.ev_accept, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
}

void td_listen_hold(struct td_server *srv, int fd)
{
	struct td_listen *l = &srv->listen;

	if (l->nheld < TD_HELD_MAX)
		l->held[l->nheld++] = fd;
	else
		td_ifd_close(fd);	/* more than a backlog: not expected */
}

void td_listen_unhold(struct td_server *srv)
{
	struct td_listen *l = &srv->listen;
	unsigned n = l->nheld;

	l->nheld = 0;
	for (unsigned i = 0; i < n; i++)
		td_handshake_accepted(srv, l->held[i]);
}

/* The socket and lock a previous binary of this process made (and
 * checked): already the server's own fds. */
void td_listen_adopt(struct td_server *srv, int listen_fd, int lock_fd,
		     ino_t ino)
{
	srv->listen.srv = srv;
	td_timer_init(&srv->listen.accept_retry, td_listen_retry);
	srv->listen.listen_fd = listen_fd;
	srv->listen.lock_fd = lock_fd;
	srv->listen.socket_ino = ino;
}

/* Remove the socket only if it is still ours: a successor may already
 * have replaced it. */
void td_listen_close(struct td_server *srv)
{
	struct stat st;

	if (srv->listen.listen_fd >= 0) {
		/* The service manager's socket is its to remove: it listens
		 * on, and starts us again when a controller comes. */
		if (!srv->listen.inherited &&
		    lstat(srv->socket_path, &st) == 0 &&
		    st.st_ino == srv->listen.socket_ino)
			unlink(srv->socket_path);
		td_ifd_close(srv->listen.listen_fd);
		srv->listen.listen_fd = -1;
	}
	if (srv->listen.lock_fd >= 0) {
		td_ifd_close(srv->listen.lock_fd);
		srv->listen.lock_fd = -1;
	}
	for (unsigned i = 0; i < srv->listen.nheld; i++)
		td_ifd_close(srv->listen.held[i]);
	srv->listen.nheld = 0;
}
