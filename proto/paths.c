/* The per-user default socket: $TETHER_SOCKET, else the runtime dir. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"

static int tp_fits(int n, size_t size)
{
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int tp_default_socket_path(char *buf, size_t size)
{
	const char *env = getenv("TETHER_SOCKET");
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char run[64];
	struct stat st;

	if (env && *env)
		return tp_fits(snprintf(buf, size, "%s", env), size);
	if (xdg && *xdg == '/')
		return tp_fits(snprintf(buf, size, "%s/tether/tetherd.sock",
					xdg), size);
	snprintf(run, sizeof(run), "/run/user/%u", (unsigned)getuid());
	if (stat(run, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == getuid())
		return tp_fits(snprintf(buf, size, "%s/tether/tetherd.sock",
					run), size);
	return tp_fits(snprintf(buf, size, "/tmp/tether-%u/tetherd.sock",
				(unsigned)getuid()), size);
}
