/*
 * tetherd: a persistent, reconnectable syscall server.
 * Options, readiness, then serve until told to stop (server.c starts
 * and tears down).
 */
#include <errno.h>
#include <malloc.h>
#include <limits.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "policy/policy.h"
#include "deferred/pool.h"
#include "server.h"
#include "tetherd.h"

struct td_opts {
	struct td_config cfg;
	const char *check_policy;
	int ready_fd;
	int resume_fd;			/* -1, or UPGRADE's state */
	const char *resume_fallback;
};

static void td_usage(FILE *f)
{
	fprintf(f,
		"usage: tetherd [--socket PATH] [--log FILE | --syslog[=SOCKET]] "
		"[--policy FILE] [--allow-uid UID[,UID...]]... [--fdstore]\n"
		"       tetherd --check-policy FILE\n"
		"Serve marshalled syscalls on a Unix socket (see tetherd(8)).\n"
		"  -s, --socket PATH     listening socket (default: the one "
		"systemd passed,\n"
		"                        else per-user runtime dir; made "
		"again on SIGUSR1)\n"
		"  -l, --log FILE        log there instead of stderr (reopened "
		"on SIGHUP)\n"
		"      --syslog[=SOCKET] log to syslog (default /dev/log)\n"
		"      --fdstore         keep labelled fds in systemd's fd "
		"store\n"
		"  -p, --policy FILE     run only the syscalls FILE allows, "
		"twice enforced\n"
		"      --check-policy FILE  validate FILE, print its rules, "
		"exit\n"
		"  -u, --allow-uid LIST  also admit these uids\n"
		"  -g, --allow-gid LIST  also admit peers of these gids\n"
		"      --read-only-uid LIST  admit these uids to look, not to "
		"call\n"
		"      --state-dir DIR   worker logs (default: SOCKET.d)\n"
		"      --helpers N       threads for blocking syscalls (default "
		"8, 3 to 64)\n"
		"      --ready-fd N      write READY <pid> or ERROR <errno> "
		"<text> to fd N\n"
		"  -h, --help            this text\n"
		"  -V, --version         print the version\n");
}

/* "1000,1001" appended to a uid_t or gid_t array (both 32-bit). */
static int td_add_ids(uint32_t **ids, size_t *n, const char *list)
{
	char *copy = strdup(list), *tok, *save = NULL, *end;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		unsigned long v;
		uint32_t *nv;

		errno = 0;
		v = strtoul(tok, &end, 10);
		if (errno || *end || end == tok || v >= (uint32_t)-1) {
			rc = -EINVAL;
			break;
		}
		if (!(nv = realloc(*ids, (*n + 1) * sizeof(**ids)))) {
			rc = -ENOMEM;
			break;
		}
		*ids = nv;
		(*ids)[(*n)++] = (uint32_t)v;
	}
	free(copy);
	return rc;
}

static int td_id_option(uint32_t **ids, size_t *n, const char *what,
			const char *list)
{
	if (td_add_ids(ids, n, list) == 0)
		return 0;
	fprintf(stderr, "tetherd: bad %s list '%s'\n", what, list);
	return 2;
}

static int td_parse(int argc, char **argv, struct td_opts *o,
		    struct td_server *srv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "allow-gid", required_argument, NULL, 'g' },
		{ "read-only-uid", required_argument, NULL, 'R' },
		{ "policy", required_argument, NULL, 'p' },
		{ "check-policy", required_argument, NULL, 'C' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "state-dir", required_argument, NULL, 'S' },
		{ "helpers", required_argument, NULL, 'H' },
		{ "syslog", optional_argument, NULL, 'Y' },
		{ "fdstore", no_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		/* UPGRADE's exec of the next binary: not for people */
		{ "resume-fd", required_argument, NULL, 'Z' },
		{ "resume-fallback", required_argument, NULL, 'X' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:l:u:g:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->cfg.socket_path = optarg;
			break;
		case 'l':
			o->cfg.log_path = optarg;
			break;
		case 'u':
			if (td_id_option(&srv->listen.allow_uids, &srv->listen.nallow_uids,
					 "uid", optarg))
				return 2;
			break;
		case 'g':
			if (td_id_option(&srv->listen.allow_gids, &srv->listen.nallow_gids,
					 "gid", optarg))
				return 2;
			break;
		case 'R':
			if (td_id_option(&srv->listen.ro_uids, &srv->listen.nro_uids, "uid",
					 optarg))
				return 2;
			break;
		case 'p':
			srv->policy.path = optarg;
			break;
		case 'C':
			o->check_policy = optarg;
			break;
		case 'r': {
			char *end;
			long fd = strtol(optarg, &end, 10);

			if (*end || end == optarg || fd < 3 || fd > 1023) {
				fprintf(stderr, "tetherd: bad --ready-fd '%s'\n",
					optarg);
				return 2;
			}
			o->ready_fd = (int)fd;
			break;
		}
		case 'S':
			o->cfg.state_dir = optarg;
			break;
		case 'Y':
			o->cfg.syslog_addr = optarg ? optarg : "/dev/log";
			break;
		case 'F':
			o->cfg.fdstore = true;
			break;
		case 'H': {
			char *end;
			long n = strtol(optarg, &end, 10);

			if (*end || end == optarg || n < TD_POOL_RESERVE + 1 ||
			    n > TD_POOL_MAX) {
				fprintf(stderr, "tetherd: bad --helpers '%s' "
					"(%d to %d)\n", optarg,
					TD_POOL_RESERVE + 1, TD_POOL_MAX);
				return 2;
			}
			o->cfg.helpers = (unsigned)n;
			break;
		}
		case 'Z': {
			char *end;
			long fd = strtol(optarg, &end, 10);

			if (*end || end == optarg || fd < 3 || fd > INT_MAX) {
				fprintf(stderr, "tetherd: bad --resume-fd "
					"'%s'\n", optarg);
				return 2;
			}
			o->resume_fd = (int)fd;
			break;
		}
		case 'X':
			o->resume_fallback = optarg;
			break;
		case 'h':
			td_usage(stdout);
			exit(0);
		case 'V':
			printf("tetherd %s (protocol %d)\n", PACKAGE_VERSION,
			       TETHER_PROTO_VERSION);
			exit(0);
		default:
			td_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		td_usage(stderr);
		return 2;
	}
	if (o->cfg.syslog_addr && o->cfg.log_path) {
		fprintf(stderr, "tetherd: --log and --syslog: choose one\n");
		return 2;
	}
	return 0;
}

static void td_ready(int fd, int err, const char *text)
{
	if (fd < 0)
		return;
	if (err)
		dprintf(fd, "ERROR %d %s\n", err, text);
	else
		dprintf(fd, "READY %d\n", (int)getpid());
	close(fd);
}

int main(int argc, char **argv)
{
	struct td_server srv;
	struct td_opts o = { .ready_fd = -1, .resume_fd = -1,
			     .cfg.helpers = TD_POOL_DEFAULT };
	char err[512] = "";
	int rc;

	/* Free heap memory up to 8 MiB stays ours instead of going back at
	 * every free() that leaves that much at the top: a bulk SUBMIT's
	 * 2,000 jobs and the objects its frames decode into would have the
	 * heap shrunk and grown (brk, page faults) on every round, 15% of
	 * tetherd's CPU time in bench_async.  A fresh tetherd's memory is
	 * the same; one that has served a burst keeps at most this much. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	td_server_init(&srv);
	if ((rc = td_parse(argc, argv, &o, &srv)) != 0)
		goto out;
	if (o.check_policy) {
		rc = td_policy_check_main(o.check_policy);
		goto out;
	}
	if (o.resume_fd >= 0) {
		if ((rc = td_server_resume(&srv, o.resume_fd, o.resume_fallback,
					   err, sizeof(err))) < 0) {
			fprintf(stderr, "tetherd: cannot resume: %s\n", err);
			rc = 1;
			goto out;
		}
		goto serve;
	}
	if ((rc = td_server_start(&srv, &o.cfg, err, sizeof(err))) < 0) {
		td_ready(o.ready_fd, -rc, err[0] ? err : strerror(-rc));
		rc = 1;
		goto out;
	}
	/* (server.c logged "listening on ...".) */
	td_ready(o.ready_fd, 0, NULL);
	td_notify_ready(&srv);
serve:
	rc = td_loop_run(&srv);
	td_server_finish(&srv);
	td_log("exiting");
	rc = rc < 0 ? 1 : 0;
out:
	td_server_free(&srv);
	return rc;
}
