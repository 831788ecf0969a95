/*
 * The listening socket and the handshake: who may connect (SO_PEERCRED
 * against the allow lists), how many of each class may be in a handshake
 * or observe at once, and the HELLO that makes a connection (conn/) of a
 * controller's or observer's sockets -- first attach, reconnect after a
 * crash, take-over and PROBE alike.
 */
#ifndef TETHERD_HANDSHAKE_H
#define TETHERD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conn/conn.h"
#include "deferred/timer.h"
#include "ring.h"

/* Every slot has a bound per class of peer, so the least-privileged peer
 * cannot use up what the owner needs: a controller (and a take-over)
 * always finds a handshake slot of its own class, and observers never
 * count against attaching. */
#define TD_HS_FULL_MAX 32		/* handshakes of full-access peers */
#define TD_HS_FULL_PER_UID 16
#define TD_HS_RO_MAX 16			/* of --read-only-uid peers */
#define TD_HS_RO_PER_UID 4
#define TD_HS_REFUSED_MAX 4		/* of peers we will refuse */
#define TD_HS_TIMEOUT_MS 5000		/* full-access peers' HELLO deadline */
#define TD_HS_TIMEOUT_RO_MS 1000	/* the others' */
#define TD_OBS_FULL_MAX 256		/* observers of full-access peers */
#define TD_OBS_FULL_PER_UID 128
#define TD_OBS_RO_MAX 32		/* of --read-only-uid peers */
#define TD_OBS_RO_PER_UID 8
#define TD_LISTEN_BACKLOG 64
/* Connections held through an upgrade's drain: the handshakes then in
 * progress and the accepts that raced the accept's cancel (at most a
 * backlog's worth: the cancel is issued at the turn's end). */
#define TD_HELD_MAX (TD_HS_FULL_MAX + TD_HS_RO_MAX + TD_HS_REFUSED_MAX + \
		     TD_LISTEN_BACKLOG)

/* A connection to the listening socket that has not said HELLO yet. */
struct td_handshake {
	struct td_handshake *next;
	struct td_server *srv;
	int fd;
	pid_t peer_pid;
	uid_t peer_uid;
	enum td_peer_role role;
	bool done;
	int refuse;			/* answer this errno once HELLO is in */
	struct td_event ev;
	struct td_timer deadline;
};

/* The module's state in the server. */
struct td_listen {
	struct td_server *srv;
	char path[108];			/* the socket's, when not configured */
	char lock_path[4096];
	int listen_fd;
	int lock_fd;
	ino_t socket_ino;
	/* Made by the service manager: never unlinked by us (it listens on
	 * after we exit), SOCK_STREAM when it made that type. */
	bool inherited;
	bool stream;
	bool accept_armed;
	struct td_event ev_accept;
	struct td_timer accept_retry;
	struct td_handshake *handshakes;
	unsigned nhandshakes;
	/* This batch's accepts, adopted, until their handshakes run. */
	struct td_accepted { int res; bool more; } *batch;
	size_t nbatch, batch_cap;
	/* Accepted, HELLO unread, handshake not begun: an upgrade's drain
	 * holds them for the next binary (or for this one, if it stays). */
	int held[TD_HELD_MAX];
	unsigned nheld;
	/* who may connect, besides the server's uid and root */
	uid_t *allow_uids;		/* --allow-uid: full access */
	size_t nallow_uids;
	gid_t *allow_gids;		/* --allow-gid: full access */
	size_t nallow_gids;
	uid_t *ro_uids;			/* --read-only-uid: introspection */
	size_t nro_uids;
};

/* listen.c: the socket (0600 in a checked 0700 directory), its lock,
 * accepting.  The socket is srv->activation's when the service manager
 * passed one (checked as if we had made it), else made at
 * srv->socket_path (NULL: the default path). */
int td_listen_open(struct td_server *srv, char *err, size_t errsz);
/* listen.c's pieces that relisten.c uses, off the loop too: no server
 * state.  dir: the directory of path (size of sun_path). */
void td_listen_dir(const char *path, char *dir);
int td_listen_mkdir(const char *dir, char *err, size_t errsz);
/* PATH.lock, taken (the fd), or who holds it (-EADDRINUSE). */
int td_listen_lock_at(const char *lock_path, const char *socket_path,
		      char *err, size_t errsz);
/* A stale socket file replaced, a new one bound and listening: the fd
 * and its inode. */
int td_listen_bind(const char *path, ino_t *ino, char *err, size_t errsz);
/* relisten.c: SIGUSR1, the socket file again if it is gone. */
void td_listen_again(struct td_server *srv, unsigned sender);
void td_listen_close(struct td_server *srv);
void td_listen_arm(struct td_server *srv);
void td_listen_pause(struct td_server *srv);
/* An accepted socket whose HELLO is unread, kept for later (the drain);
 * the handshakes of those kept, once accepting again. */
void td_listen_hold(struct td_server *srv, int fd);
void td_listen_unhold(struct td_server *srv);
void td_listen_adopt(struct td_server *srv, int listen_fd, int lock_fd,
		     ino_t ino);
/* An accept's completion: its socket is moved into the internal band at
 * once, its handshake waits for td_listen_batch_run. */
void td_listen_event(struct td_server *srv, int res, bool more);
/* The handshakes of every accept td_listen_event took, in order. */
void td_listen_batch_run(struct td_server *srv);

/* handshake.c: fd already in the internal band */
void td_handshake_accepted(struct td_server *srv, int fd);
void td_handshake_event(struct td_handshake *hs, int res);
/* Shutting down: drop handshakes in progress. */
void td_handshakes_closeall(struct td_server *srv);
/* An upgrade's drain: handshakes in progress stop, their sockets (HELLO
 * unread) held by td_listen_hold. */
void td_handshakes_hold(struct td_server *srv);
/* fd: the peer's socket, for its supplementary groups (-1: none). */
enum td_peer_role td_peer_role(const struct td_server *srv, int fd,
			       uid_t uid, gid_t gid);

#endif
