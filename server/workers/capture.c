/*
 * Captured output: the server drains a worker's stdout+stderr pipe into
 * a log file in its state directory, attached or not, so the worker
 * never blocks on a full pipe and no byte is lost.  Bytes have a
 * logical offset that keeps counting across rotations: the file holds
 * [base, size), the rotated PATH.1 holds [old_base, base).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tetherd.h"
#include "worker.h"

struct td_capture {
	struct td_server *srv;
	struct td_worker *w;		/* NULL once the record is gone */
	int pipe_fd;			/* read end; -1 at EOF */
	int log_fd;			/* -1 once closed */
	char path[PATH_MAX];
	uint64_t old_base;
	uint64_t base;
	uint64_t size;
	bool have_old;
	/* The files as created, so a LOGS fd is checked to be one of them
	 * and not whatever was put in their place. */
	dev_t dev, old_dev;
	ino_t ino, old_ino;
	uint64_t log_max;
	uint64_t lost;			/* bytes we failed to write */
	bool armed;
	struct td_event ev;
	/* A drain stopped at its budget goes on at the next turn. */
	struct td_timer more;
	unsigned rotations;		/* in this drain */
};

/* What one drain does before the loop answers anyone else: a worker
 * writing 100 MB into a 4 KiB log rotated 24,000 times in one drain,
 * and STATUS waited 5 to 9 s. */
#define TD_CAPTURE_TURN_BYTES (1u << 20)
#define TD_CAPTURE_TURN_ROTATIONS 16u

static void td_capture_more_due(struct td_timer *t);

bool td_capture_eof(const struct td_capture *cap)
{
	return cap->pipe_fd < 0;
}

uint64_t td_capture_size(const struct td_capture *cap)
{
	return cap->size;
}

const char *td_capture_path(const struct td_capture *cap)
{
	return cap->path;
}

static int td_capture_create(struct td_capture *cap)
{
	int fd = open(cap->path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				       O_CLOEXEC | O_APPEND, 0600);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) == 0) {
		cap->dev = st.st_dev;
		cap->ino = st.st_ino;
	}
	cap->log_fd = td_ifd_adopt(fd, "worker log");
	return cap->log_fd < 0 ? cap->log_fd : 0;
}

static void td_capture_arm(struct td_capture *cap)
{
	struct io_uring_sqe *sqe = td_sqe(cap->srv);

	if (!sqe)
		return;
	io_uring_prep_poll_multishot(sqe, cap->pipe_fd, POLLIN);
	io_uring_sqe_set_data(sqe, &cap->ev);
	cap->armed = true;
}

int td_capture_open(struct td_server *srv, struct td_worker *w,
		    uint64_t log_max, int *child_fd)
{
	struct td_capture *cap = calloc(1, sizeof(*cap));
	static unsigned seq;
	int p[2], rc;

	if (!cap)
		return -ENOMEM;
	cap->srv = srv;
	cap->w = w;
	cap->log_fd = cap->pipe_fd = -1;
	cap->log_max = log_max ? log_max : UINT64_MAX;
	cap->ev.kind = TD_EV_CAPTURE;
	cap->ev.obj = cap;
	td_timer_init(&cap->more, td_capture_more_due);
	/* The pid is not known yet: name by (the start of) the label, the
	 * time and a counter; NAME_MAX bounds a file name. */
	if ((size_t)snprintf(cap->path, sizeof(cap->path),
			     "%s/%.64s.%lld.%u.log", srv->workers.state_dir,
			     w->label[0] ? w->label : "worker",
			     (long long)time(NULL), seq++) >= sizeof(cap->path) - 2) {
		rc = -ENAMETOOLONG;
		goto fail;
	}
	if ((rc = td_capture_create(cap)) < 0)
		goto fail;
	if (pipe2(p, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	if ((cap->pipe_fd = td_ifd_adopt(p[0], "worker output")) < 0) {
		rc = cap->pipe_fd;
		close(p[1]);
		goto fail;
	}
	/* Ours until the worker has it: a GC meanwhile must not close it. */
	if ((*child_fd = td_ifd_adopt(p[1], "worker output, its end")) < 0) {
		rc = *child_fd;
		td_ifd_close(cap->pipe_fd);
		goto fail;
	}
	fcntl(cap->pipe_fd, F_SETFL, O_NONBLOCK);
	w->cap = cap;
	return 0;
fail:
	if (cap->log_fd >= 0) {
		td_ifd_close(cap->log_fd);
		unlink(cap->path);
	}
	free(cap);
	return rc;
}

void td_capture_start(struct td_capture *cap)
{
	if (cap->pipe_fd >= 0 && !cap->armed)
		td_capture_arm(cap);
}

/* Rotate at the cap: PATH -> PATH.1 (the older .1 goes). */
static void td_capture_rotate(struct td_capture *cap)
{
	char old[PATH_MAX + 2];

	snprintf(old, sizeof(old), "%s.1", cap->path);
	if (rename(cap->path, old) < 0) {
		td_log("rotating %s: %s", cap->path, strerror(errno));
		return;
	}
	td_ifd_close(cap->log_fd);
	cap->log_fd = -1;
	cap->rotations++;
	cap->old_base = cap->base;
	cap->base = cap->size;
	cap->have_old = true;
	cap->old_dev = cap->dev;
	cap->old_ino = cap->ino;
	cap->dev = 0;
	cap->ino = 0;
	if (td_capture_create(cap) < 0)
		td_log("reopening %s: %s", cap->path, strerror(errno));
}

static void td_capture_append(struct td_capture *cap, const char *p, size_t n)
{
	while (n) {
		uint64_t room = cap->log_max - (cap->size - cap->base);
		size_t chunk = n < room ? n : (size_t)room;
		ssize_t k;

		if (room == 0 || cap->log_fd < 0) {
			if (room == 0)
				td_capture_rotate(cap);
			if (cap->log_fd < 0) {
				cap->lost += n;
				return;
			}
			continue;
		}
		k = write(cap->log_fd, p, chunk);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			td_log("writing %s: %s; %zu bytes lost", cap->path,
			       strerror(errno), n);
			cap->lost += n;
			return;
		}
		cap->size += (uint64_t)k;
		p += k;
		n -= (size_t)k;
	}
}

static void td_capture_eof_reached(struct td_capture *cap)
{
	struct io_uring_sqe *sqe;

	if (cap->armed && !cap->srv->exiting && (sqe = td_sqe(cap->srv))) {
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&cap->ev, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	td_ifd_close(cap->pipe_fd);
	cap->pipe_fd = -1;
	td_timer_stop(cap->srv, &cap->more);
	if (cap->log_fd >= 0) {
		td_ifd_close(cap->log_fd);
		cap->log_fd = -1;
	}
}

/* Drain the pipe; a full read means more may be waiting.  Within a
 * turn's budget: past it the rest waits for the next turn (a timer due
 * at once), and meanwhile the worker waits on its full pipe. */
static void td_capture_drain(struct td_capture *cap)
{
	char buf[65536];
	size_t done = 0;
	ssize_t n;

	cap->rotations = 0;
	while (cap->pipe_fd >= 0) {
		if (done >= TD_CAPTURE_TURN_BYTES ||
		    cap->rotations >= TD_CAPTURE_TURN_ROTATIONS) {
			td_timer_in(cap->srv, &cap->more, 0);
			break;
		}
		n = read(cap->pipe_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				td_capture_eof_reached(cap);
			break;
		}
		if (n == 0) {
			td_capture_eof_reached(cap);
			break;
		}
		td_capture_append(cap, buf, (size_t)n);
		done += (size_t)n;
	}
	if (cap->w)
		td_wait_worker_changed(cap->srv, cap->w);
}

static void td_capture_more_due(struct td_timer *t)
{
	struct td_capture *cap = (struct td_capture *)((char *)t -
				 offsetof(struct td_capture, more));

	if (cap->w && cap->pipe_fd >= 0)
		td_capture_drain(cap);
}

void td_capture_event(struct td_capture *cap, int res, bool more)
{
	if (!more)
		cap->armed = false;
	if (!cap->w) {			/* record gone: we only wait to free */
		if (!cap->armed)
			free(cap);
		return;
	}
	if (cap->pipe_fd < 0)
		return;
	if (res < 0 && res != -ECANCELED)
		td_log("capture poll: %s", strerror(-res));
	td_capture_drain(cap);
	if (!more && cap->pipe_fd >= 0)
		td_capture_arm(cap);
}

/* The record is acknowledged: its logs go with it.  When the server
 * exits they stay, for whoever looks after it. */
void td_capture_free(struct td_capture *cap)
{
	char old[PATH_MAX + 2];

	if (!cap)
		return;
	td_timer_stop(cap->srv, &cap->more);
	if (cap->pipe_fd >= 0)
		td_capture_eof_reached(cap);
	if (cap->log_fd >= 0)
		td_ifd_close(cap->log_fd);
	if (!cap->srv->exiting) {
		unlink(cap->path);
		snprintf(old, sizeof(old), "%s.1", cap->path);
		unlink(old);
	}
	cap->w = NULL;
	/* A poll still in the ring frees it when it completes, unless the
	 * ring is going away with the server. */
	if (!cap->armed || cap->srv->exiting)
		free(cap);
}

/* Open, never wait: O_NONBLOCK, so a FIFO put in the log's place cannot
 * hold the loop in open() (it is then refused as not the log); a
 * symlink is refused by O_NOFOLLOW. */
static int td_capture_open_ro(const char *path, dev_t dev, ino_t ino)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
			    O_NONBLOCK);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_dev != dev ||
	    st.st_ino != ino || !ino) {
		close(fd);
		return -ESTALE;
	}
	fcntl(fd, F_SETFL, 0);
	return fd;
}

/* Read logical [off, off+max) into buf; returns bytes, 0 at the end.
 * *off moves past bytes lost to rotation. */
ssize_t td_capture_read(struct td_capture *cap, uint64_t *off, char *buf,
			size_t max)
{
	char old[PATH_MAX + 2];
	const char *path = cap->path;
	uint64_t start = cap->base, end = cap->size;
	ssize_t n;
	int fd;

	if (*off < (cap->have_old ? cap->old_base : cap->base))
		*off = cap->have_old ? cap->old_base : cap->base;
	if (*off >= cap->size)
		return 0;
	if (*off < cap->base) {
		snprintf(old, sizeof(old), "%s.1", cap->path);
		path = old;
		start = cap->old_base;
		end = cap->base;
	}
	if (end - *off < max)
		max = (size_t)(end - *off);
	/* The file checked as LOGS' fds are: a FIFO in its place must not
	 * hold the loop in open(), another file must not be read. */
	fd = td_capture_open_ro(path, path == cap->path ? cap->dev
							: cap->old_dev,
				path == cap->path ? cap->ino : cap->old_ino);
	if (fd < 0)
		return fd;
	n = pread(fd, buf, max, (off_t)(*off - start));
	close(fd);
	return n < 0 ? -errno : n;
}

int td_capture_segs(struct td_capture *cap, uint64_t *off,
		    struct td_capture_seg seg[2])
{
	int n = 0;

	if (*off < (cap->have_old ? cap->old_base : cap->base))
		*off = cap->have_old ? cap->old_base : cap->base;
	if (*off < cap->base) {
		snprintf(seg[n].path, sizeof(seg[n].path), "%s.1", cap->path);
		seg[n].dev = cap->old_dev;
		seg[n].ino = cap->old_ino;
		seg[n].base = cap->old_base;
		seg[n].from = *off;
		seg[n].end = cap->base;
		n++;
	}
	if (cap->size > cap->base && *off < cap->size) {
		snprintf(seg[n].path, sizeof(seg[n].path), "%s", cap->path);
		seg[n].dev = cap->dev;
		seg[n].ino = cap->ino;
		seg[n].base = cap->base;
		seg[n].from = *off > cap->base ? *off : cap->base;
		seg[n].end = cap->size;
		n++;
	}
	return n;
}

int td_capture_open_seg(const struct td_capture_seg *seg)
{
	return td_capture_open_ro(seg->path, seg->dev, seg->ino);
}

void td_capture_export(const struct td_capture *cap,
		       struct td_capture_state *s)
{
	*s = (struct td_capture_state){
		.pipe_fd = cap->pipe_fd, .log_fd = cap->log_fd,
		.path = cap->path, .old_base = cap->old_base,
		.base = cap->base, .size = cap->size, .log_max = cap->log_max,
		.lost = cap->lost, .have_old = cap->have_old,
		.dev = cap->dev, .ino = cap->ino, .old_dev = cap->old_dev,
		.old_ino = cap->old_ino,
	};
}

/* The fds are already the server's own (td_ifd_keep); armed by
 * td_capture_start like a new one. */
int td_capture_import(struct td_server *srv, struct td_worker *w,
		      const struct td_capture_state *s)
{
	struct td_capture *cap;

	if (strlen(s->path) >= sizeof(cap->path))
		return -ENAMETOOLONG;
	if (!(cap = calloc(1, sizeof(*cap))))
		return -ENOMEM;
	cap->srv = srv;
	cap->w = w;
	cap->pipe_fd = s->pipe_fd;
	cap->log_fd = s->log_fd;
	strcpy(cap->path, s->path);
	cap->old_base = s->old_base;
	cap->base = s->base;
	cap->size = s->size;
	cap->have_old = s->have_old;
	cap->log_max = s->log_max;
	cap->lost = s->lost;
	cap->dev = s->dev;
	cap->ino = s->ino;
	cap->old_dev = s->old_dev;
	cap->old_ino = s->old_ino;
	cap->ev.kind = TD_EV_CAPTURE;
	cap->ev.obj = cap;
	td_timer_init(&cap->more, td_capture_more_due);
	w->cap = cap;
	return 0;
}
