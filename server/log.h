/*
 * The log: one line per event, never blocking the loop, from any thread
 * (log.c says how).
 */
#ifndef TETHERD_LOG_H
#define TETHERD_LOG_H

struct td_server;

/* The log's fd: path opened (or, NULL, a private copy of stderr), moved
 * into the internal band where controllers cannot touch it. */
int td_log_open(const char *path);
void td_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The loop: write out what is queued; arm a poll if the log is full. */
void td_log_flush(struct td_server *srv);
void td_log_event(struct td_server *srv, int res);

#endif
