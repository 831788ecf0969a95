/*
 * Closes that may wait, kept off the loop.  A file on FUSE or NFS asks
 * its server at every close (FUSE's FLUSH, NFS's write-back); a socket
 * with SO_LINGER waits for its peer.  What the loop closes in bulk (GC,
 * close_range) or of its own (a GET's file) goes through here: sockets
 * stop lingering (the kernel still sends what is queued) and close at
 * once; remote files are hidden at once -- recorded as ours, so no
 * controller names them and their numbers are not reused -- and closed
 * by the closer, a helper thread (deferred/closer.c).  The closer
 * registers itself: deferred/ uses fds/ already, and calling it from
 * here would make a cycle of modules.
 */
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tetherd.h"

static int (*td_closer)(void *arg, const int *fds, unsigned n);
static void *td_closer_arg;

void td_fds_set_closer(int (*fn)(void *arg, const int *fds, unsigned n),
		       void *arg)
{
	td_closer = fn;
	td_closer_arg = arg;
}

/* Why fd's close may wait: *lingers for a socket with SO_LINGER, the
 * return value for a remote file; one statx tells which to ask. */
static bool td_fd_close_kind(int fd, bool *lingers)
{
	struct stat st;
	bool remote;

	*lingers = false;
	if (td_fstat_nowait(fd, &st, &remote) < 0)
		return false;
	*lingers = S_ISSOCK(st.st_mode) && td_fd_lingers(fd);
	return remote;
}

bool td_fd_close_waits(int fd)
{
	bool lingers;

	return td_fd_close_kind(fd, &lingers) || lingers;
}

bool td_fd_prepare_close(int fd)
{
	bool lingers, remote = td_fd_close_kind(fd, &lingers);

	if (lingers)
		td_fd_unlinger(fd);
	return remote;
}

void td_fds_close_later(const int *fds, unsigned n)
{
	int *v = n ? malloc(n * sizeof(int)) : NULL;

	for (unsigned i = 0; v && i < n; i++)
		/* The records full (the band's size): the closer still has
		 * it, unrecorded (~fd), so the loop does not wait; only a
		 * controller that uses a number it was told is closed can
		 * meet it there. */
		v[i] = td_ifd_hide(fds[i], "closing") == 0 ? fds[i] : ~fds[i];
	if (v && n && td_closer && td_closer(td_closer_arg, v, n) == 0) {
		free(v);
		return;
	}
	/* No helper takes them (shutting down, its queue full), no
	 * memory: closed here, the one way left. */
	for (unsigned i = 0; i < n; i++)
		if (td_ifd_is(fds[i]))
			td_ifd_close(fds[i]);
		else
			close(fds[i]);
	free(v);
}

unsigned td_fds_prepare_range(unsigned lo, unsigned hi, int **later)
{
	unsigned n = 0, cap = 0;
	struct dirent *e;
	DIR *d;

	*later = NULL;
	/* Best effort: a table too full to open the directory is one whose
	 * sockets the controller set up to linger itself.  Not
	 * td_fds_scan: ifd.c calls this, and fds.c's scan (which gives up
	 * spare slots in a full table) would close a cycle of modules
	 * (tools/check-modules). */
	if (!(d = opendir("/proc/self/fd")))
		return 0;
	while ((e = readdir(d))) {
		char *end;
		unsigned long fd = strtoul(e->d_name, &end, 10);

		if (*end || e->d_name[0] == '.' || fd < lo || fd > hi ||
		    fd == (unsigned long)dirfd(d) || td_ifd_is((int)fd) ||
		    !td_fd_prepare_close((int)fd))
			continue;
		if (n == cap) {
			int *m = realloc(*later, (cap = cap ? 2 * cap : 8) *
						 sizeof(int));

			if (!m)
				continue;	/* closed in the run, here */
			*later = m;
		}
		/* Hidden now, so the close_range runs go around it. */
		if (td_ifd_hide((int)fd, "closing") == 0)
			(*later)[n++] = (int)fd;
	}
	closedir(d);
	return n;
}

int td_ifd_adopt_nowait(int fd, const char *role, bool *slow)
{
	bool remote;
	int nfd;

	if (fd < 0)
		return fd;
	if (!(remote = td_fd_prepare_close(fd))) {
		nfd = td_ifd_adopt(fd, role);
	} else {
		nfd = td_ifd_copy(fd, role);
		td_fds_close_later(&fd, 1);
	}
	if (slow)
		*slow = remote;
	return nfd;
}

void td_ifd_close_nowait(int fd)
{
	if (td_fd_prepare_close(fd))
		td_fds_close_later(&fd, 1);
	else
		td_ifd_close(fd);
}
