/*
 * How many fds the controller has in the server, the internal ones not
 * counted: what every HELLO answer and STATUS says (nfds).
 *
 * Counting means listing /proc/self/fd, about 1 us an fd here (20 ms at
 * 19,000 fds), on the loop -- too much to do at every attach.  So the
 * count is kept, and each syscall that runs moves it as the syscall
 * table says the call moves the fd table: an fd more (open, socket,
 * accept ...: TP_SC_RETFD), one fewer (close), none (read, write,
 * stat ...: TP_SC_KEEPFDS), two (socketpair, pipe), as its command says
 * (fcntl), or unknown (dup2, recvmsg, ioctl ...: counted again at the
 * next attach).  A call running off the loop (a helper, the ring) may have
 * changed the table before its completion says so: while one is, a
 * count read from /proc is not kept, and at its completion its own
 * move is applied to a count that cannot include it yet.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>

#include "tetherd.h"
#include "systab.h"

static int td_nfds_cached = -1;
static unsigned td_nfds_flux;		/* such calls off the loop */

/*
 * Whether a file on a remote filesystem (fds/remotefs.c) may be in the
 * table.  Routing asks of every call's fds only while one may: statx
 * costs a microsecond, a fifth of the bulk path's work per call.  So
 * every way in is watched: an fd a call returns (TP_SC_RETFD) or TAKE
 * brings is looked at when it comes; a call that may bring some unseen
 * (recvmsg's SCM_RIGHTS, a ring of the controller's own, a call the
 * table does not know) counts as having brought one; and while a call
 * that may bring one runs off the loop, it may already have.  Once one
 * is seen, every call is looked at from then on.
 */
static bool td_remote_seen;
static unsigned td_remote_flux;		/* such calls off the loop */

enum td_fds_move { TD_FDS_KEEP, TD_FDS_NEW, TD_FDS_PAIR, TD_FDS_CLOSE,
		   TD_FDS_UNKNOWN };

/* By number alone: fcntl is then unknown (td_fcntl_move knows more). */
static enum td_fds_move td_fds_move_of(long nr)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(nr);

	if (!sc)
		return TD_FDS_UNKNOWN;
	if (nr == SYS_close)
		return TD_FDS_CLOSE;
	/* two new fds, never internal ones (those are adopted) */
	if (nr == SYS_socketpair || nr == SYS_pipe2
#ifdef SYS_pipe
	    || nr == SYS_pipe
#endif
	    )
		return TD_FDS_PAIR;
	/* dup2/dup3 may replace an open fd, signalfd reuse one. */
	if (nr == SYS_dup3 || nr == SYS_signalfd4
#ifdef SYS_dup2
	    || nr == SYS_dup2
#endif
#ifdef SYS_signalfd
	    || nr == SYS_signalfd
#endif
	    )
		return TD_FDS_UNKNOWN;
	if (sc->flags & TP_SC_RETFD)
		return TD_FDS_NEW;
	return sc->flags & TP_SC_KEEPFDS ? TD_FDS_KEEP : TD_FDS_UNKNOWN;
}

static enum td_fds_move td_fcntl_move(int cmd)
{
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return TD_FDS_NEW;
	case F_GETFD: case F_SETFD: case F_GETFL: case F_SETFL:
	case F_GETLK: case F_SETLK: case F_SETLKW:
	case F_OFD_GETLK: case F_OFD_SETLK: case F_OFD_SETLKW:
	case F_GETOWN: case F_SETOWN: case F_GETSIG: case F_SETSIG:
	case F_GETPIPE_SZ: case F_SETPIPE_SZ:
	case F_ADD_SEALS: case F_GET_SEALS:
		return TD_FDS_KEEP;
	default:
		return TD_FDS_UNKNOWN;
	}
}

void td_fds_changed(void)
{
	td_nfds_cached = -1;
}

bool td_fds_may_be_remote(void)
{
	return td_remote_seen || td_remote_flux;
}

void td_fds_remote_scan(void)
{
	int *fds = NULL;
	size_t n = 0;

	/* Unreadable: not sure, so yes. */
	if (td_fds_scan(&fds, &n) < 0)
		td_remote_seen = true;
	for (size_t i = 0; i < n && !td_remote_seen; i++)
		td_remote_seen = !td_ifd_is(fds[i]) && td_fd_remote(fds[i]);
	free(fds);
}

static void td_fds_arrived(int fd)
{
	if (!td_remote_seen && fd >= 0 && td_fd_remote(fd))
		td_remote_seen = true;
}

enum td_bring { TD_BRINGS_NONE, TD_BRINGS_SEEN, TD_BRINGS_UNSEEN };

/* What call nr may bring into the table: nothing new to look at (pipes
 * and socket pairs are not files), an fd it returns, or fds nobody sees
 * come. */
static enum td_bring td_call_brings(long nr)
{
	const struct tp_syscall *sc = tp_syscall_by_nr(nr);

	if (!sc)
		return TD_BRINGS_UNSEEN;
	switch (nr) {
	case SYS_recvmsg: case SYS_recvmmsg: case SYS_io_uring_enter:
		return TD_BRINGS_UNSEEN;
	case SYS_ioctl:			/* TIOCGPTPEER, NS_GET_ ...: returned */
		return TD_BRINGS_SEEN;
	case SYS_fcntl:			/* F_DUPFD of one already looked at */
		return TD_BRINGS_NONE;
	default:
		return sc->flags & TP_SC_RETFD ? TD_BRINGS_SEEN : TD_BRINGS_NONE;
	}
}

void td_fds_added(int fd)
{
	td_fds_arrived(fd);
	if (td_nfds_cached >= 0 && !td_ifd_is(fd))
		td_nfds_cached++;
	else
		td_nfds_cached = -1;
}

static void td_fds_removed(int fd)
{
	if (td_nfds_cached > 0 && !td_ifd_is(fd))
		td_nfds_cached--;
	else
		td_nfds_cached = -1;
}

void td_fds_call_placed(long nr)
{
	if (td_fds_move_of(nr) != TD_FDS_KEEP)
		td_nfds_flux++;
	if (td_call_brings(nr) != TD_BRINGS_NONE)
		td_remote_flux++;
}

/* A remote file may have come with call nr, which returned ret. */
static void td_fds_call_brought(long nr, long ret, bool placed)
{
	switch (td_call_brings(nr)) {
	case TD_BRINGS_NONE:
		return;
	case TD_BRINGS_SEEN:
		/* A new fd's count is moved by td_fds_added, which looks
		 * at it; the others' (ioctl, dup2 ...) are looked at here. */
		if (ret > 2 && td_fds_move_of(nr) != TD_FDS_NEW)
			td_fds_arrived((int)ret);
		/* Our timeout or cancel, not the call's: it may have run. */
		else if (ret < 0 && placed && nr != SYS_ioctl)
			td_remote_seen = true;
		break;
	case TD_BRINGS_UNSEEN:
		if (ret >= 0 || placed)
			td_remote_seen = true;
		break;
	}
	if (placed && td_remote_flux)
		td_remote_flux--;
}

void td_fds_call_ran(long nr, const uint64_t regs[6], long ret, bool placed)
{
	enum td_fds_move m = td_fds_move_of(nr);

	td_fds_call_brought(nr, ret, placed);

	if (placed && m != TD_FDS_KEEP && td_nfds_flux)
		td_nfds_flux--;
	/* Off the loop, a failure may be ours (a timeout, a cancel) and
	 * not the call's, which may have run anyway: count again. */
	if (placed && m != TD_FDS_KEEP && (ret < 0 || m == TD_FDS_CLOSE))
		m = TD_FDS_UNKNOWN;
	else if (nr == SYS_fcntl)
		m = td_fcntl_move((int)regs[1]);
	switch (m) {
	case TD_FDS_KEEP:
		return;
	case TD_FDS_NEW:
		if (ret >= 0)
			td_fds_added((int)ret);
		return;
	case TD_FDS_PAIR:
		if (ret >= 0 && td_nfds_cached >= 0)
			td_nfds_cached += 2;
		return;
	case TD_FDS_CLOSE:
		/* Closed whatever else it says (EINTR, EIO), unless it was
		 * not open. */
		if (ret != -EBADF)
			td_fds_removed((int)regs[0]);
		return;
	case TD_FDS_UNKNOWN:
		td_fds_changed();
		return;
	}
}

unsigned td_count_fds(void)
{
	DIR *d;
	struct dirent *de;
	unsigned n = 0;

	if (td_nfds_cached >= 0)
		return (unsigned)td_nfds_cached;
	/* Not with the spares: anyone may ask for STATUS. */
	if (!(d = opendir("/proc/self/fd")))
		return 0;
	while ((de = readdir(d))) {
		int fd;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		fd = atoi(de->d_name);
		if (fd != dirfd(d) && !td_ifd_is(fd))
			n++;
	}
	closedir(d);
	if (!td_nfds_flux)
		td_nfds_cached = (int)n;
	return n;
}
