/* Make persistent: leave the controller's session and stop dying with it. */
#include <errno.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "tetherd.h"

int td_persist(struct td_server *srv)
{
	if (srv->persistent)
		return 0;
	/* EPERM: already a process group leader (started from a shell as
	 * its own job); the controller's session cannot take us down then
	 * except by SIGHUP, which we ignore. */
	if (setsid() < 0 && errno != EPERM)
		return -errno;
	if (prctl(PR_SET_PDEATHSIG, 0) < 0)
		return -errno;
	srv->persistent = true;
	td_log("now persistent (session %d)", (int)getsid(0));
	return 0;
}
