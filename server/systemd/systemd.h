/*
 * The service manager's side of tetherd: the fds it hands over at start
 * (socket activation, and the fd store's labelled fds), and what tetherd
 * tells it (readiness, status, stopping, fds to keep).  systemd's
 * protocols (sd_listen_fds(3), sd_notify(3)); libsystemd parses
 * LISTEN_FDS when configure found it, a fallback here otherwise.
 * Notifications are sent by our own code on a non-blocking socket:
 * sd_notify() may block when the manager's queue is full, and the loop
 * never waits.
 */
#ifndef TETHERD_SYSTEMD_H
#define TETHERD_SYSTEMD_H

#include <stdbool.h>
#include <stddef.h>

#include "ring.h"

struct td_server;

/* A stored fd's name starts with this; any other name is the listening
 * socket's (systemd names it after the socket unit). */
#define TD_FDSTORE_PREFIX "label."
#define TD_FDNAME_MAX 255		/* systemd's FDNAME_MAX */
#define TD_ACTIVATION_MAX 8192		/* LISTEN_FDS we take at most */
#define TD_NOTIFY_QUEUE 8192		/* datagrams waiting for room */

/* One fd the service manager passed, moved into the internal band. */
struct td_sd_fd {
	int fd;
	char name[TD_FDNAME_MAX + 1];
};

/* What LISTEN_FDS passed: the listening socket (-1: none) and the
 * fd store's fds, in the order they came. */
struct td_activation {
	int listen_fd;
	char listen_name[TD_FDNAME_MAX + 1];
	struct td_sd_fd *stored;
	unsigned nstored;
};

struct td_notify_msg;

/* The module's state in the server. */
struct td_notify {
	int fd;				/* connected to NOTIFY_SOCKET, or -1 */
	char addr[108];			/* for the log ('@': abstract) */
	bool fdstore;			/* --fdstore: deposit labelled fds */
	bool ready;			/* READY=1 queued */
	bool armed;			/* POLLOUT in the ring */
	char status[256];		/* the last STATUS= sent */
	struct td_notify_said {		/* what it said */
		unsigned long long generation;
		int pid;		/* the controller's, or 0 */
		unsigned workers, labels;
		bool stopping;
	} said;
	struct td_notify_msg *head, **tail;
	unsigned queued;
	unsigned long long dropped;
	struct td_event ev;
};

/* activate.c: take LISTEN_FDS (only if LISTEN_PID is ours), unset the
 * variables, sort the fds into the listening socket and stored ones.
 * 0 (nothing passed: a->listen_fd -1, no stored), or -errno with err. */
int td_activation_take(struct td_activation *a, char *err, size_t errsz);
void td_activation_free(struct td_activation *a);

/* notify.c: connect to NOTIFY_SOCKET if it is set (and unset it, so
 * workers do not inherit it); 0 when it is not. */
int td_notify_open(struct td_server *srv, char *err, size_t errsz);
void td_notify_adopt(struct td_server *srv, int fd, const char *addr);
bool td_notify_on(const struct td_server *srv);
/* Queue one datagram (lines "KEY=value\n"), with fd (>= 0: a copy is
 * sent, ours stays ours) attached, and send what goes now. */
void td_notify_send(struct td_server *srv, const char *text, int fd);
/* READY=1 with a first STATUS=; STOPPING=1. */
void td_notify_ready(struct td_server *srv);
void td_notify_stopping(struct td_server *srv);
/* The loop, after every batch of events: a STATUS= line when what it
 * says changed, and what waits goes out. */
void td_notify_flush(struct td_server *srv);
void td_notify_event(struct td_server *srv, int res);
void td_notify_close(struct td_server *srv);

#endif
