/*
 * LIST_FDS: what the server holds, so a controller that lost its memory
 * (crash, restart, a debugging session) can see every fd: what kind of
 * file, where it points, how it is open, and its label.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tetherd.h"

#define TD_FDS_PAGE 1024		/* entries per reply: < 2 MiB worst case */
#define TD_TARGET_MAX 1024		/* bytes of a target we report */

static int td_fd_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* /proc/self/fd, open: GC and the listing are how a controller finds
 * what to close in a full table, so the controller (not an observer)
 * may have the spare slots for them. */
static int td_open_fd_dir(bool urgent)
{
	int d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (d < 0 && urgent && td_spare_emfile(errno))
		d = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d < 0 ? -errno : d;
}

int td_fds_scan(int **out, size_t *n)
{
	int dfd = td_open_fd_dir(true);
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;
	int *v = NULL, *nv;
	size_t len = 0, cap = 0;

	if (dfd < 0)
		return dfd;
	if (!d) {
		int err = -errno;

		close(dfd);
		return err;
	}
	while ((de = readdir(d))) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || end == de->d_name || fd == dirfd(d))
			continue;
		if (len == cap) {
			cap = cap ? 2 * cap : 256;
			if (!(nv = realloc(v, cap * sizeof(int)))) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[len++] = (int)fd;
	}
	closedir(d);
	qsort(v, len, sizeof(int), td_fd_cmp);
	*out = v;
	*n = len;
	return 0;
}

/* The fds from `from` on, in order: until more than max of them are
 * not the server's own (the last is where the next page starts), or
 * the table ends.  procfs positions an fd directory at fd + 2, so a
 * page is read from where it starts, not from fd 0: listing n fds a
 * page at a time stays O(n), where a whole scan per page made it
 * O(n^2 / page). */
static int td_fds_scan_page(int64_t from, size_t max, bool urgent,
			    int **out, size_t *n)
{
	int d = td_open_fd_dir(urgent);
	char buf[16384];
	int *v = NULL, *nv;
	size_t len = 0, cap = 0, mine = 0;
	ssize_t k = 1;
	int rc = 0;

	if (d < 0)
		return d;
	if (from < 0 || from > INT_MAX)
		from = from < 0 ? 0 : INT_MAX;
	if (lseek(d, (off_t)from + 2, SEEK_SET) < 0)
		rc = -errno;
	while (rc == 0 && mine <= max && (k = getdents64(d, buf, sizeof(buf))) > 0) {
		for (ssize_t o = 0; o < k && mine <= max;) {
			struct dirent64 *e = (struct dirent64 *)(buf + o);
			char *end;
			long fd = strtol(e->d_name, &end, 10);

			o += e->d_reclen;
			if (*end || end == e->d_name || fd == d || fd < from)
				continue;
			if (len == cap) {
				cap = cap ? 2 * cap : 256;
				if (!(nv = realloc(v, cap * sizeof(int)))) {
					rc = -ENOMEM;
					break;
				}
				v = nv;
			}
			v[len++] = (int)fd;
			mine += !td_ifd_is((int)fd);
		}
	}
	if (rc == 0 && k < 0)
		rc = -errno;
	close(d);
	if (rc < 0) {
		free(v);
		return rc;
	}
	/* procfs lists in order; sorted anyway, the page relies on it. */
	qsort(v, len, sizeof(int), td_fd_cmp);
	*out = v;
	*n = len;
	return 0;
}

static const char *td_anon_kind(const char *target)
{
	static const struct { const char *prefix, *kind; } anon[] = {
		{ "anon_inode:[eventfd]", "eventfd" },
		{ "anon_inode:[signalfd]", "signalfd" },
		{ "anon_inode:[pidfd]", "pidfd" },
		{ "pidfd:", "pidfd" },
		{ "anon_inode:[eventpoll]", "epoll" },
		{ "anon_inode:[timerfd]", "timerfd" },
		{ "anon_inode:[io_uring]", "io_uring" },
		{ "anon_inode:inotify", "inotify" },
		{ "anon_inode:[fanotify]", "fanotify" },
		{ "anon_inode:[userfaultfd]", "userfaultfd" },
		{ "anon_inode:", "anon" },
	};

	for (size_t i = 0; i < sizeof(anon) / sizeof(anon[0]); i++)
		if (!strncmp(target, anon[i].prefix, strlen(anon[i].prefix)))
			return anon[i].kind;
	return NULL;
}

static const char *td_sock_family(int v)
{
	switch (v) {
	case AF_UNIX: return "unix";
	case AF_INET: return "inet";
	case AF_INET6: return "inet6";
	case AF_NETLINK: return "netlink";
	case AF_PACKET: return "packet";
	default: return "other";
	}
}

static const char *td_sock_type(int v)
{
	switch (v) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_SEQPACKET: return "seqpacket";
	case SOCK_RAW: return "raw";
	default: return "other";
	}
}

static const char *td_fd_kind(int fd, const struct stat *st,
			      const char *target)
{
	const char *anon = td_anon_kind(target);

	if (anon)
		return anon;
	switch (st->st_mode & S_IFMT) {
	case S_IFREG:
		return strncmp(target, "/memfd:", 7) ? "regular" : "memfd";
	case S_IFDIR: return "directory";
	case S_IFIFO: return "pipe";
	case S_IFSOCK: return "socket";
	case S_IFCHR: return isatty(fd) ? "tty" : "chardev";
	case S_IFBLK: return "blockdev";
	case S_IFLNK: return "symlink";
	default: return "unknown";
	}
}

/* What LIST_FDS packs, an entry at a time: the fds of one list, in
 * order, skipping or keeping the internal ones. */
struct td_fds_walk {
	struct td_server *srv;
	const int *fds;
	size_t at;			/* next index into fds */
	bool internal;			/* the list of the server's own */
};

/* One entry: sockets say their family and type, internal fds their
 * role. */
static int td_fds_pack_one(struct tp_w *w, const void *ctx, uint32_t i)
{
	struct td_fds_walk *walk = (struct td_fds_walk *)ctx;
	char link[32], target[TD_TARGET_MAX + 1];
	struct tp_fdinfo e = { 0 };
	struct stat st;
	const char *role;
	ssize_t n;
	int fd, fl, fdfl, dom = 0, type = 0;
	socklen_t len = sizeof(int);

	(void)i;
	while (!walk->internal && td_ifd_is(walk->fds[walk->at]))
		walk->at++;
	fd = walk->fds[walk->at++];
	role = td_ifd_role(fd);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	/* Not fstat: FUSE would ask its daemon (fds/remotefs.c). */
	if (td_fstat_nowait(fd, &st, NULL) < 0)
		memset(&st, 0, sizeof(st));
	fl = fcntl(fd, F_GETFL);
	fdfl = fcntl(fd, F_GETFD);
	if (S_ISSOCK(st.st_mode) &&
	    getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &len) == 0 &&
	    (len = sizeof(int),
	     getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0)) {
		e.has |= TP_FDINFO_FAMILY | TP_FDINFO_SOCKTYPE;
		e.family = tp_str(td_sock_family(dom));
		e.socktype = tp_str(td_sock_type(type));
	}
	if (role) {
		e.has |= TP_FDINFO_ROLE;
		e.role = tp_str(role);
	}
	e.fd = fd;
	e.kind = tp_str(td_fd_kind(fd, &st, target));
	e.target = tp_str(target);
	e.flags = fl < 0 ? 0 : fl;
	e.cloexec = fdfl >= 0 && (fdfl & FD_CLOEXEC);
	e.label = tp_str(td_label_of(walk->srv, fd));
	e.internal = role != NULL;
	return tp_pack_fdinfo(w, &e);
}

/* The labeled fds, in order, from the label table (validated). */
static int td_fds_labeled(struct td_server *srv, int **out, size_t *n)
{
	size_t len;
	int *v = malloc((srv->fds.nlabels + 1) * sizeof(int));

	if (!v)
		return -ENOMEM;
	len = td_labels_fds(srv, v, srv->fds.nlabels);
	qsort(v, len, sizeof(int), td_fd_cmp);
	*out = v;
	*n = len;
	return 0;
}

/* LIST_FDS [from, true]: the labeled fds alone, without the server's
 * own, all in one reply (as before paging: up to 4096 labels, whose
 * targets may not fit one frame); [from, true, true]: those from `from`
 * on, TD_FDS_PAGE a reply, "next" as for the rest. */
static int td_list_labeled(struct td_req *r, const struct tp_from *req)
{
	struct td_fds_walk mine;
	struct tp_fd_list rep;
	size_t n, first = 0, count;
	int *fds, rc;

	if ((rc = td_fds_labeled(r->srv, &fds, &n)) < 0)
		return td_req_fail(r, -rc, "out of memory");
	count = n;
	if ((req->has & TP_FROM_PAGED) && req->paged) {
		while (first < n && fds[first] < req->from)
			first++;
		count = n - first < TD_FDS_PAGE ? n - first : TD_FDS_PAGE;
	}
	mine = (struct td_fds_walk){ r->srv, fds, first, false };
	rep = (struct tp_fd_list){
		.fds = { .n = (uint32_t)count, .each = td_fds_pack_one,
			 .ctx = &mine },
		.next = first + count < n ? fds[first + count] : 0,
	};
	rc = tp_pack_list_fds_reply(r->w, &rep);
	free(fds);
	return rc;
}

/* LIST_FDS [] or [from] or [from, labeled]: {"fds": [...], "internal":
 * [...], "next": N}.  "next" is 0 when the listing is complete, else
 * the fd to ask from. */
int td_do_list_fds(struct td_req *r)
{
	size_t n = 0, i, first = 0, count = 0;
	struct tp_from req;
	struct tp_err e;
	int *fds = NULL, rc;
	int ifds[TD_IFD_RESERVE];
	unsigned ni;
	struct td_fds_walk mine, own;
	struct tp_fd_list rep;

	if ((rc = tp_unpack_list_fds(r->body, &req, &e)) < 0)
		return td_req_fail(r, -rc, "%s", e.msg);
	td_labels_validate(r->srv);
	if ((req.has & TP_FROM_LABELED) && req.labeled)
		return td_list_labeled(r, &req);
	if ((rc = td_fds_scan_page(req.from, TD_FDS_PAGE,
				     !r->conn->observer, &fds, &n)) < 0)
		return td_req_fail(r, -rc, "reading /proc/self/fd: %s",
				   strerror(-rc));
	for (i = first; i < n && count < TD_FDS_PAGE; i++)
		if (!td_ifd_is(fds[i]))
			count++;
	for (; i < n && td_ifd_is(fds[i]); i++)
		;
	/* The server's own fds come once, with the first page. */
	ni = req.from == 0 ? td_ifd_list(ifds, TD_IFD_RESERVE) : 0;
	mine = (struct td_fds_walk){ r->srv, fds, first, false };
	own = (struct td_fds_walk){ r->srv, ifds, 0, true };
	rep = (struct tp_fd_list){
		.fds = { .n = (uint32_t)count, .each = td_fds_pack_one,
			 .ctx = &mine },
		.internal = { .n = ni, .each = td_fds_pack_one, .ctx = &own },
		.next = i < n ? fds[i] : 0,
	};
	rc = tp_pack_list_fds_reply(r->w, &rep);
	free(fds);
	return rc;
}
