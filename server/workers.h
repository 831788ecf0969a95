/* The worker record, shared by workers.c, capture.c and wait.c. */
#ifndef TETHERD_WORKERS_H
#define TETHERD_WORKERS_H

#include <sys/resource.h>

#include "tetherd.h"

enum td_wstate { TD_W_RUNNING, TD_W_STOPPED, TD_W_EXITED, TD_W_KILLED };

struct td_worker {
	struct td_worker *next;
	struct td_server *srv;
	pid_t pid;
	pid_t pgid;
	int pidfd;			/* internal; closed once reaped */
	char label[TETHER_LABEL_MAX + 1];
	char **argv;
	int argc;
	int64_t started_ms;		/* epoch */
	uint64_t started_mono;		/* td_now_ms() */
	enum td_wstate state;
	int exit_code;
	int signal;			/* killed by, or stopped by */
	bool core;
	int64_t ended_ms;		/* epoch, 0 while running */
	struct rusage ru;
	struct td_capture *cap;		/* captured output, or NULL */
	/* STOP in progress */
	bool stopping;
	bool stop_killed;		/* the grace ran out: SIGKILL sent */
	uint64_t stop_start;		/* td_now_ms() */
	uint64_t stop_deadline;
};

#endif
