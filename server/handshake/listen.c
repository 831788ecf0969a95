/*
 * The listening socket: a 0700 directory (which, and every parent up to
 * /, must be ours or root's), a 0600 SOCK_SEQPACKET socket
 * (one handshake message is one packet, fds and all), and an flock on
 * PATH.lock so a second server on the same path is refused and a stale
 * socket of a dead one can be replaced safely.
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

/* mkdir -p the socket's directory (what we create is 0700), then check
 * it and every parent up to /: each must be ours or root's and
 * writable by nobody else (sticky aside), or someone else could swap
 * the directory, and the socket in it, under us. */
static int td_listen_mkdir(const char *dir, char *err, size_t errsz)
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

/* Take PATH.lock, or say who holds it. */
static int td_listen_lock(struct td_server *srv, char *err, size_t errsz)
{
	char pid[32] = "";
	int fd, n, rc;

	if ((size_t)snprintf(srv->listen.lock_path, sizeof(srv->listen.lock_path), "%s.lock",
			     srv->socket_path) >= sizeof(srv->listen.lock_path))
		return -ENAMETOOLONG;
	fd = open(srv->listen.lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errsz, "cannot open %s: %s", srv->listen.lock_path,
			 strerror(errno));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		rc = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;
		n = (int)pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, errsz, "another tetherd (pid %s) is serving %s",
			 *pid ? pid : "?", srv->socket_path);
		close(fd);
		return rc;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		td_log("cannot record pid in %s: %s", srv->listen.lock_path,
		       strerror(errno));
	return fd;
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

int td_listen_open(struct td_server *srv, char *err, size_t errsz)
{
	struct sockaddr_un sa;
	struct stat st;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	mode_t old;
	int fd = -1, rc;

	srv->listen.srv = srv;
	td_timer_init(&srv->listen.accept_retry, td_listen_retry);

	if ((rc = td_listen_addr(srv->socket_path, &sa)) < 0) {
		snprintf(err, errsz, "socket path too long (max %zu bytes)",
			 sizeof(sa.sun_path) - 1);
		return rc;
	}
	strcpy(dir, srv->socket_path);
	/* A bare name lives in the working directory, "/x" in "/": both
	 * exist, and are checked all the same. */
	if (!(slash = strrchr(dir, '/')))
		strcpy(dir, ".");
	else
		slash[slash == dir] = '\0';
	if ((rc = td_listen_mkdir(dir, err, errsz)) < 0)
		return rc;
	if ((rc = td_listen_lock(srv, err, errsz)) < 0)
		return rc;
	if ((srv->listen.lock_fd = td_ifd_adopt(rc, "lock")) < 0)
		return srv->listen.lock_fd;
	if ((rc = td_listen_clear_stale(srv->socket_path, err, errsz)) < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0 || lstat(srv->socket_path, &st) < 0)
		goto fail;
	srv->listen.socket_ino = st.st_ino;
	srv->listen.listen_fd = td_ifd_adopt(fd, "listen");
	return srv->listen.listen_fd < 0 ? srv->listen.listen_fd : 0;
fail:
	rc = -errno;
	snprintf(err, errsz, "cannot listen on %s: %s", srv->socket_path,
		 strerror(errno));
	close(fd);
	return rc;
}

/* Accept connections, as many as come (multishot). */
void td_listen_arm(struct td_server *srv)
{
	struct io_uring_sqe *sqe;

	if (srv->listen.accept_armed || srv->stopping || srv->listen.listen_fd < 0)
		return;
	if (!(sqe = td_sqe(srv)))
		return;
	io_uring_prep_multishot_accept(sqe, srv->listen.listen_fd, NULL, NULL,
				       SOCK_CLOEXEC | SOCK_NONBLOCK);
	io_uring_sqe_set_data(sqe, &srv->listen.ev_accept);
	srv->listen.accept_armed = true;
}

/* A connection (or a reason there is none). */
void td_listen_event(struct td_server *srv, int res, bool more)
{
	if (!more)
		srv->listen.accept_armed = false;
	if (res >= 0) {
		td_handshake_accepted(srv, res);
	} else if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS ||
		   res == -ENOMEM) {
		/* Out of fds: back off instead of spinning. */
		td_log("accept: %s; retrying in 100 ms", strerror(-res));
		if (!srv->listen.accept_armed) {
			td_timer_in(srv, &srv->listen.accept_retry, 100);
			srv->listen.accept_armed = true;
		}
		return;
	} else if (res != -EAGAIN && res != -EINTR && res != -ECONNABORTED &&
		   res != -ECANCELED) {
		td_log("accept: %s", strerror(-res));
	}
	td_listen_arm(srv);
}

/* Remove the socket only if it is still ours: a successor may already
 * have replaced it. */
void td_listen_close(struct td_server *srv)
{
	struct stat st;

	if (srv->listen.listen_fd >= 0) {
		if (lstat(srv->socket_path, &st) == 0 &&
		    st.st_ino == srv->listen.socket_ino)
			unlink(srv->socket_path);
		td_ifd_close(srv->listen.listen_fd);
		srv->listen.listen_fd = -1;
	}
	if (srv->listen.lock_fd >= 0) {
		td_ifd_close(srv->listen.lock_fd);
		srv->listen.lock_fd = -1;
	}
}
