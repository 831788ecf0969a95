/*
 * dial-stdio: the remote end of tetherctl -H ssh://... (and of
 * tether_connect_url): ssh runs it on the server's host, and it relays
 * the controller's connection between its stdin/stdout and the local
 * tetherd (libtether(3), tether_dial_stdio).  Its stdout is the stream:
 * nothing else may be written there, errors go to stderr (which ssh
 * shows the controller's user).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"

int ctl_dial_stdio(struct ctl *g, struct tether *t, int argc, char **argv)
{
	const char *path = g->socket_path;
	int rc;

	(void)t;
	/* a JSON error object on stdout would be bytes in the stream */
	g->json = false;
	if (g->interactive || g->host) {
		ctl_err("dial-stdio is run by ssh on the server's host, not "
			"%s", g->host ? "with -H" : "inside attach");
		return CTL_EX_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		if ((!strcmp(argv[i], "-s") || !strcmp(argv[i], "--socket")) &&
		    i + 1 < argc)
			path = argv[++i];
		else
			return CTL_EX_USAGE;
	}
	rc = tether_dial_stdio(path, g->server_uid, 0, 1);
	if (rc == 0)
		return CTL_EX_OK;
	if (rc == -EPROTO || rc == -ECONNRESET) {
		ctl_err("%s", tether_last_error(NULL));
		return CTL_EX_FAILED;
	}
	/* the controller was sent the refusal and says it: once, there */
	switch (tether_last_cause(NULL)) {
	case TETHER_CAUSE_CONFLICT:
		return CTL_EX_CONFLICT;
	case TETHER_CAUSE_ROLE:
	case TETHER_CAUSE_POLICY:
		return CTL_EX_DENIED;
	}
	return rc == -EBUSY ? CTL_EX_CONFLICT : CTL_EX_UNREACHABLE;
}
