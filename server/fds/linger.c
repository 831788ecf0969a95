/*
 * Sockets whose close waits.  With SO_LINGER on and a time set, the
 * last close of a socket with unsent data waits until the peer took it
 * or the time ran out -- in whatever thread closes it, and even when the
 * socket is non-blocking.  A controller's close (or dup2/dup3 over it)
 * of such a socket goes to a helper (exec/syscall.c); what the server
 * closes in bulk, GC and close_range, is closed without lingering
 * (closing.c): the kernel still sends what is queued, the loop does not
 * wait for it.
 */
#include <sys/socket.h>

#include "tetherd.h"

bool td_fd_lingers(int fd)
{
	struct linger l;
	socklen_t len = sizeof(l);

	return getsockopt(fd, SOL_SOCKET, SO_LINGER, &l, &len) == 0 &&
	       l.l_onoff && l.l_linger > 0;
}

void td_fd_unlinger(int fd)
{
	static const struct linger off = { 0, 0 };

	if (td_fd_lingers(fd))
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &off, sizeof(off));
}
