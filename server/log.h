/*
 * The log: one line per event, never blocking the loop, from any thread
 * (log.c says how).
 */
#ifndef TETHERD_LOG_H
#define TETHERD_LOG_H

#include <syslog.h>			/* LOG_ERR ... LOG_DEBUG */

struct td_server;

/* How lines are written: ours, the journal's (stderr is the journal:
 * "<N>" priorities, no time), syslog datagrams (--syslog). */
enum td_log_form {
	TD_LOG_PLAIN = 0,
	TD_LOG_JOURNAL,
	TD_LOG_SYSLOG,
};

/* The log's fd: syslog_addr's socket if given, else path opened, else
 * (both NULL) a private copy of stderr, moved into the internal band
 * where controllers cannot touch it. */
int td_log_open(const char *path, const char *syslog_addr);
/* path opened for appending: the fd, or -errno.
 * It may block (a path lookup): a helper thread's work. */
int td_log_open_file(const char *path);
/* From now on, the log (and fd 2) is fd, a file td_log_open_file opened;
 * the old one is closed. */
int td_log_replace(int fd);
/* A line at syslog priority prio (LOG_ERR ... LOG_DEBUG); td_log is
 * LOG_INFO. */
void td_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void td_log_at(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* log_reopen.c: SIGHUP (sender: its pid): --log FILE opened again by a
 * helper, switched to once open. */
void td_log_reopen(struct td_server *srv, unsigned sender);
/* The loop: write out what is queued; arm a poll if the log is full. */
void td_log_flush(struct td_server *srv);
void td_log_sync(void);
void td_log_event(struct td_server *srv, int res);

#endif
