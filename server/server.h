/*
 * A server's life: start (server.c), serve (loop.c), finish.  tetherd's
 * main() is one user; the in-process fuzz target is the other.
 */
#ifndef TETHERD_SERVER_H
#define TETHERD_SERVER_H

#include "tetherd.h"

struct td_config {
	const char *socket_path;	/* NULL: passed, or the default */
	const char *log_path;		/* NULL: a private copy of stderr */
	const char *syslog_addr;	/* --syslog: instead of the log */
	bool fdstore;			/* --fdstore */
	const char *state_dir;		/* NULL: SOCKET.d */
	unsigned helpers;
	/* The fuzz target: the policy's user-space check only -- no
	 * spawner, no seccomp filter, no ring restrictions on the process
	 * it shares. */
	bool in_process;
};

void td_server_init(struct td_server *srv);
/* Everything up to serving; -errno with err[] saying why (logged). */
int td_server_start(struct td_server *srv, const struct td_config *cfg,
		    char *err, size_t errsz);
/* tetherd --resume-fd: a server handed over by the previous binary of
 * this process (upgrade/); fallback_from: why the newer binary could
 * not resume, when we are the old one taking the state back. */
int td_server_resume(struct td_server *srv, int state_fd,
		     const char *fallback_from, char *err, size_t errsz);
/* After the loop: free in the order things may point at each other. */
void td_server_finish(struct td_server *srv);
/* What option parsing allocated (td_server_start's caller's). */
void td_server_free(struct td_server *srv);

#endif
