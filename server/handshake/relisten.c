/*
 * SIGUSR1: the listening socket again, when its file is gone.
 * systemd-tmpfiles ages /tmp out, a logout removes /run/user/UID: the
 * server runs on, its workers and fds with it, but no controller can
 * reach it any more, and a supervisor's only way back would be to kill
 * it.  tmux and abduco answer SIGUSR1 the same way.
 *
 * The path lookups, the lock and the bind are a job on the opener
 * helper (a path may hang; its fd table is its own, what it makes comes
 * over by SCM_RIGHTS); the loop swaps the sockets between events.  A
 * socket still in place is left alone, one a service manager made is
 * its own to make, and if another tetherd has taken the path since, it
 * keeps it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "deferred/pool.h"
#include "tetherd.h"

struct td_relisten {
	struct td_job job;		/* first: the job is the whole */
	char path[108];
	char lock_path[4096];
	ino_t ino;			/* the socket's: in, then the new one */
	dev_t lock_dev;			/* the lock we hold */
	ino_t lock_ino;
	bool in_place;
	int err;
	char msg[256];
};

static bool td_relistening;		/* one at a time */

/* The opener: nothing if the socket is ours and there; else the lock
 * (unless ours is still the file at its path) and a new socket. */
static void td_relisten_work(struct td_job *j)
{
	struct td_relisten *rl = (struct td_relisten *)j;
	char dir[sizeof(rl->path)];
	struct stat st;
	int lock = -1, fd;

	if (lstat(rl->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_ino == rl->ino) {
		rl->in_place = true;
		return;
	}
	td_listen_dir(rl->path, dir);
	if ((fd = td_listen_mkdir(dir, rl->msg, sizeof(rl->msg))) < 0)
		goto fail;
	if ((stat(rl->lock_path, &st) < 0 || st.st_dev != rl->lock_dev ||
	     st.st_ino != rl->lock_ino) &&
	    (fd = lock = td_listen_lock_at(rl->lock_path, rl->path, rl->msg,
					   sizeof(rl->msg))) < 0)
		goto fail;
	if ((fd = td_listen_bind(rl->path, &rl->ino, rl->msg,
				 sizeof(rl->msg))) < 0) {
		if (lock >= 0)
			close(lock);
		goto fail;
	}
	j->fds[j->nfds++] = fd;
	if (lock >= 0)
		j->fds[j->nfds++] = lock;
	return;
fail:
	rl->err = -fd;
	if (!rl->msg[0])
		snprintf(rl->msg, sizeof(rl->msg), "%s", strerror(rl->err));
}

/* The loop: the new socket (and lock) for the old, whose armed accept
 * is cancelled -- its last completion arms the accept on the new one. */
static void td_relisten_done(struct td_job *j, int res)
{
	struct td_relisten *rl = (struct td_relisten *)j;
	struct td_server *srv = j->srv;
	int fd = -1, lock = -1;

	td_relistening = false;
	if (res < 0 && !rl->err)
		snprintf(rl->msg, sizeof(rl->msg), "%s", strerror(-res));
	if (res < 0 || rl->err) {
		td_log_at(LOG_ERR, "SIGUSR1: cannot listen on %s again: %s",
			  rl->path, rl->msg);
		goto out;
	}
	if (rl->in_place) {
		td_log("SIGUSR1: %s is in place: nothing to do", rl->path);
		goto out;
	}
	fd = td_ifd_adopt(j->fds[0], "listen");
	if (j->nfds == 2)
		lock = td_ifd_adopt(j->fds[1], "lock");
	/* adopted, or closed by td_ifd_adopt */
	if (fd < 0 || (j->nfds == 2 && lock < 0)) {
		td_log_at(LOG_ERR, "SIGUSR1: listening on %s again: %s",
			  rl->path, strerror(fd < 0 ? -fd : -lock));
		if (fd >= 0)
			td_ifd_close(fd);
		j->nfds = 0;
		goto out;
	}
	j->nfds = 0;
	if (lock >= 0) {
		td_ifd_close(srv->listen.lock_fd);
		srv->listen.lock_fd = lock;
	}
	td_listen_pause(srv);
	td_ifd_close(srv->listen.listen_fd);
	srv->listen.listen_fd = fd;
	srv->listen.socket_ino = rl->ino;
	td_listen_arm(srv);		/* unless the old one is still armed */
	td_log("SIGUSR1: listening on %s again (its file was gone)",
	       rl->path);
out:
	td_job_end(j);
}

static const struct td_job_ops td_relisten_ops = {
	.name = "RELISTEN",
	.work = td_relisten_work,
	.done = td_relisten_done,
	.release = td_job_release_plain,
};

void td_listen_again(struct td_server *srv, unsigned sender)
{
	struct td_relisten *rl;
	struct stat st;
	int rc;

	if (srv->listen.inherited) {
		td_log("SIGUSR1 from pid %u: the socket is the service "
		       "manager's to make", sender);
		return;
	}
	if (srv->policy.loaded || srv->in_process) {
		td_log("SIGUSR1 from pid %u: not under --policy (bind is not "
		       "the server's to call then): restart it", sender);
		return;
	}
	if (srv->stopping || srv->upgrade.draining || td_relistening) {
		td_log("SIGUSR1 from pid %u: %s", sender, td_relistening
		       ? "already at it" : "not now");
		return;
	}
	if (!(rl = calloc(1, sizeof(*rl)))) {
		td_log_at(LOG_ERR, "SIGUSR1: out of memory");
		return;
	}
	snprintf(rl->path, sizeof(rl->path), "%s", srv->socket_path);
	/* lock_path is not kept across an upgrade: made again. */
	snprintf(rl->lock_path, sizeof(rl->lock_path), "%s.lock",
		 srv->socket_path);
	rl->ino = srv->listen.socket_ino;
	if (fstat(srv->listen.lock_fd, &st) == 0) {
		rl->lock_dev = st.st_dev;
		rl->lock_ino = st.st_ino;
	}
	td_log("SIGUSR1 from pid %u: checking %s", sender, rl->path);
	if ((rc = td_job_internal_to_opener(&rl->job, &td_relisten_ops,
					     srv)) < 0) {
		td_log_at(LOG_ERR, "SIGUSR1: no helper to listen again: %s",
			  strerror(-rc));
		return;
	}
	td_relistening = true;
}
