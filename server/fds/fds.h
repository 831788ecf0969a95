/*
 * The server's descriptors: its own (internal, in a band from fd 1024
 * that controllers cannot name), the controller's and their labels,
 * LIST_FDS and GC.
 */
#ifndef TETHERD_FDS_H
#define TETHERD_FDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TD_NOFILE_WANT 65536		/* soft RLIMIT_NOFILE we ask for */
#define TD_IFD_FLOOR 1024		/* the server's own fds start here */
#define TD_IFD_RESERVE 8192		/* and take at most this many */
/* The least RLIMIT_NOFILE tetherd runs with: 1024 below the band for
 * the controller, 1280 from it on for its own (handshakes need some). */
#define TD_NOFILE_MIN (TD_IFD_FLOOR + 1024 + 256)

struct td_server;
struct td_req;
struct td_label;
struct stat;

/* The module's state in the server. */
struct td_fds {
	struct td_label *labels;
	unsigned nlabels;
};

/* ifd.c: the server's own fds live high in the table and are recorded,
 * so controller syscalls and GC never touch them.  Any thread. */
int td_ifd_init(void);
/* Move fd up and record it with a role (a static string); returns the
 * new fd.  Closes fd on failure. */
int td_ifd_adopt(int fd, const char *role);
/* A copy of fd in the band, recorded; fd stays open.  No close on the
 * way, as td_ifd_adopt's: a controller's file may be on FUSE, whose
 * every close asks its daemon. */
int td_ifd_copy(int fd, const char *role);
/* Record fd, whatever its number, as ours (0, or -EMFILE when half the
 * records are taken: the rest are for the server's own fds; 0 too if it
 * is ours already): no controller names it until td_ifd_close_slow.
 * For a condemned fd whose close may wait. */
int td_ifd_hide(int fd, const char *role);
/* td_ifd_close for a helper: the flush a close may wait for (a daemon's)
 * happens with /dev/null already in fd's place, outside the lock the
 * loop takes; the number is freed and unrecorded together after. */
void td_ifd_close_slow(int fd);
/* An fd the previous binary left us (upgrade/): recorded where it is. */
int td_ifd_keep(int fd, const char *role);
void td_ifd_close(int fd);
bool td_ifd_is(int fd);
const char *td_ifd_role(int fd);	/* NULL if not internal */
unsigned td_ifd_count(void);
/* Sorted copy of the internal fds; returns how many (<= max). */
unsigned td_ifd_list(int *out, unsigned max);
/* close_range(first, last) around the internal fds. */
int td_ifd_close_range(unsigned first, unsigned last, unsigned flags);
/* td_ifd_adopt for what lets a controller in (the accepted socket, the
 * HELLO's two): on EMFILE the spare slots are given up and it tries
 * once more. */
int td_ifd_adopt_urgent(int fd, const char *role);

/* spare.c: slots held for the day a controller's calls fill the table
 * (RLIMIT_NOFILE), so that the next controller can still get in and
 * collect the garbage.  The loop's thread only. */
int td_spare_init(void);
/* Give them up (true if there were any). */
bool td_spare_release(void);
/* err (either sign) is EMFILE and spares were given up: try again. */
bool td_spare_emfile(int err);
/* Once a loop turn: take them back if the table has room, at most
 * once a second (nothing to do while all are held).  *given: how many
 * were given up since the last turn, *taken: taken back now -- for the
 * loop to log (fds/ may not: the log's fd is one of ours). */
void td_spare_refill(unsigned *given, unsigned *taken);
/* linger.c: sockets whose last close would wait (SO_LINGER with a
 * time): a helper closes them, or they stop lingering first. */
bool td_fd_lingers(int fd);
void td_fd_unlinger(int fd);

/* closing.c: closes that may wait (a remote file's, a lingering
 * socket's), kept off the loop.  The loop's thread.
 * td_fd_close_waits: fd's close would wait (a socket that lingers, a
 * remote file).
 * td_fd_prepare_close: a socket stops lingering; true if fd is a file
 * whose close must not happen here (td_fds_close_later).
 * td_fds_close_later: fds hidden at once (recorded as ours, "closing")
 * and closed by the closer, else here.  The closer gets ~fd for one the
 * records had no room for.
 * td_fds_prepare_range: the same for close_range(lo, hi): sockets
 * unlingered, remote files hidden and returned (*later, malloc'd) for
 * td_fds_close_later once the runs around them are closed.
 * td_fds_set_closer: who closes them (deferred/closer.c): 0 once it has
 * them, or -errno. */
bool td_fd_close_waits(int fd);
bool td_fd_prepare_close(int fd);
/* td_ifd_adopt and td_ifd_close for files a controller named (GET, PUT):
 * a remote file's copy is made without closing the original here, and
 * its close is the closer's.  *slow (if not NULL): whether it is one. */
int td_ifd_adopt_nowait(int fd, const char *role, bool *slow);
void td_ifd_close_nowait(int fd);
void td_fds_close_later(const int *fds, unsigned n);
unsigned td_fds_prepare_range(unsigned lo, unsigned hi, int **later);
void td_fds_set_closer(int (*fn)(void *arg, const int *fds, unsigned n),
		       void *arg);

/* remotefs.c: files on filesystems whose calls may wait on a network
 * or a daemon (FUSE, NFS ...), told without asking them.  Any thread.
 * td_fstat_nowait: fstat from what the kernel holds (type, mode, dev,
 * ino, nlink, uid, gid, size; no times), and, when remote is not NULL,
 * whether fd is a file or directory on such a filesystem, or on one
 * that cannot be told.  0 or -errno. */
int td_fstat_nowait(int fd, struct stat *st, bool *remote);
bool td_fd_remote(int fd);

/* How many are held now (STATUS). */
unsigned td_spare_count(void);

/* labels.c */
void td_labels_validate(struct td_server *srv);
const char *td_label_of(const struct td_server *srv, int fd);
/* The labeled fds (at most max) into out; how many. */
size_t td_labels_fds(const struct td_server *srv, int *out, size_t max);
void td_labels_syscall_done(struct td_server *srv, long nr,
			    const uint64_t *regs, long ret);
void td_labels_free(struct td_server *srv);
int td_labels_each(struct td_server *srv,
		   int (*fn)(void *ctx, int fd, dev_t dev, ino_t ino,
			     mode_t type, const char *name),
		   void *ctx);
int td_label_carry(struct td_server *srv, int fd, dev_t dev, ino_t ino,
		     mode_t type, const char *name);
int td_do_label(struct td_req *r);
/* Label fd as name (NULL: the name was not a string), as LABEL does,
 * and what LABEL would answer into *done (may be NULL); 0 or
 * td_req_fail()'s -errno. */
struct tp_str;
struct tp_label_reply;
int td_label_set(struct td_req *r, int64_t fd, const struct tp_str *name,
		 struct tp_label_reply *done);
int td_do_unlabel(struct td_req *r);
/* A label taken back from the fd store (stored: the fd number its
 * stored name says), as LABEL would set it. */
int td_label_restore(struct td_server *srv, int fd, const char *name,
		     int stored);

/* fdstore.c: --fdstore.  Deposit fd under its label: the number it is
 * stored under, or -1 if it is not (no --fdstore, no NOTIFY_SOCKET, a
 * name too long). */
int td_fdstore_put(struct td_server *srv, int fd, const char *label);
/* Withdraw what td_fdstore_put stored (stored_fd < 0: nothing). */
void td_fdstore_drop(struct td_server *srv, int stored_fd, const char *label);
/* Start-up: label again what LISTEN_FDS brought back from the store. */
void td_fdstore_restore(struct td_server *srv);

/* fds.c */
int td_fds_scan(int **out, size_t *n);	/* sorted, /proc/self/fd */
int td_do_list_fds(struct td_req *r);

/* fdcount.c: fds of the controller's (internal ones excluded), kept
 * across the syscalls that run (fdcount.c says how). */
unsigned td_count_fds(void);
/* Something may have opened or closed any fd: count again. */
void td_fds_changed(void);
/* fd was just opened and nothing else changed (TAKE): the count, if
 * known, stays known. */
void td_fds_added(int fd);
/* Whether a file of a remote filesystem may be among the controller's
 * fds now (fdcount.c says how that is kept); td_fds_remote_scan looks
 * at all of them (start-up, resume). */
bool td_fds_may_be_remote(void);
void td_fds_remote_scan(void);
/* Syscall nr goes off the loop (a helper, the ring); td_fds_call_ran
 * with placed true when it has run. */
void td_fds_call_placed(long nr);
/* Syscall nr has run with these arguments and returned ret (-errno). */
void td_fds_call_ran(long nr, const uint64_t regs[6], long ret, bool placed);

/* gc.c */
int td_do_gc(struct td_req *r);

#endif
