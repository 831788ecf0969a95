/*
 * The state a resuming binary reads (state_load.c), in three steps that
 * server.c's resume interleaves with its own start-up: read (or fall
 * back to the old binary), configuration and the listening socket, then
 * -- once the ring and the helpers exist -- labels, workers and parked
 * results.
 */
#ifndef TETHERD_STATE_IN_H
#define TETHERD_STATE_IN_H

#include <limits.h>
#include <msgpack.h>
#include <stdbool.h>

#include "state.h"

struct td_server;
struct td_config;

struct td_state_in {
	int fd;
	int fallback_fd;		/* the old binary, per the header */
	char *buf;
	msgpack_unpacked up;
	struct tp_state s;		/* points into up */
	/* what td_config points at, for the process's life */
	char *socket, *log, *state_dir, *syslog;
	int notify_fd;			/* -1: none */
	char notify_addr[108];
	char binary[PATH_MAX];		/* the binary the upgrade asked for */
	unsigned upgrades, upgrade_failures;
	char err[256];
};

/* -EPROTO: the state's version is unknown here. */
int td_state_read(int fd, struct td_state_in *st);
int td_state_config(struct td_server *srv, struct td_state_in *st,
		    struct td_config *cfg);
int td_state_restore(struct td_server *srv, struct td_state_in *st);
/* Exec the binary that wrote the state (returns if that failed). */
void td_state_fall_back(struct td_state_in *st, const char *why);
/* The parsed state; the strings cfg points at stay. */
void td_state_in_free(struct td_state_in *st);

#endif
