/*
 * The controller's end of a remote connection: the ssh child and the
 * relay between its stdio and the sockets the handle uses (relay.c).
 */
#ifndef TL_RELAY_H
#define TL_RELAY_H

#include <sys/types.h>

#include "libtether.h"

/* What an ssh:// URL names, and the remote command it makes. */
struct tl_ssh {
	char user[256];
	char host[256];
	char port[8];
	char path[108];		/* sun_path's size; "" for the default */
	char command[1024];	/* tetherctl dial-stdio [-s PATH], quoted */
};

/* Start ssh and the relay, send OPEN (flags, server_uid), read the
 * answer: t's sockets and t->relay on success; -errno with t->err and
 * t->cause (the remote refusal's own) on failure. */
int tl_relay_start(struct tether *t, const struct tl_ssh *s, unsigned flags,
		   uid_t server_uid);

#endif
