/*
 * tetherd: a persistent, reconnectable syscall server.
 * Starts, listens, reports readiness, then serves until told to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "config.h"
#include "job.h"
#include "policy.h"
#include "pool.h"
#include "tetherd.h"
#include "workers.h"

struct td_opts {
	const char *socket_path;
	const char *log_path;
	const char *state_dir;
	const char *check_policy;
	int ready_fd;
	unsigned helpers;
};

static void td_usage(FILE *f)
{
	fprintf(f,
		"usage: tetherd [--socket PATH] [--log FILE] [--policy FILE] "
		"[--allow-uid UID[,UID...]]...\n"
		"       tetherd --check-policy FILE\n"
		"Serve marshalled syscalls on a Unix socket (see tetherd(8)).\n"
		"  -s, --socket PATH     listening socket (default: per-user "
		"runtime dir)\n"
		"  -l, --log FILE        log there instead of stderr\n"
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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:l:u:g:p:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket_path = optarg;
			break;
		case 'l':
			o->log_path = optarg;
			break;
		case 'u':
			if (td_id_option(&srv->allow_uids, &srv->nallow_uids,
					 "uid", optarg))
				return 2;
			break;
		case 'g':
			if (td_id_option(&srv->allow_gids, &srv->nallow_gids,
					 "gid", optarg))
				return 2;
			break;
		case 'R':
			if (td_id_option(&srv->ro_uids, &srv->nro_uids, "uid",
					 optarg))
				return 2;
			break;
		case 'p':
			srv->policy_path = optarg;
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
			o->state_dir = optarg;
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
			o->helpers = (unsigned)n;
			break;
		}
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
	return 0;
}

/* fds 0-2 must be taken, or the first controller open() would land on
 * stdin/stdout/stderr of a process that logs to them. */
static int td_std_fds(void)
{
	for (int fd = 0; fd < 3; fd++) {
		int nfd;

		if (fcntl(fd, F_GETFD) >= 0)
			continue;
		nfd = open("/dev/null", O_RDWR);
		if (nfd < 0)
			return -errno;
		if (nfd != fd)
			return -EBADF;
	}
	return 0;
}

/* Where captured output goes: 0700, ours, created if missing. */
static int td_state_dir(struct td_server *srv, const char *dir, char *err,
			size_t errsz)
{
	struct stat st;

	if ((size_t)snprintf(srv->state_dir, sizeof(srv->state_dir), "%s",
			     dir ? dir : "") >= sizeof(srv->state_dir) ||
	    (!dir && (size_t)snprintf(srv->state_dir, sizeof(srv->state_dir),
				      "%s.d", srv->socket_path) >=
			     sizeof(srv->state_dir)))
		return -ENAMETOOLONG;
	if (mkdir(srv->state_dir, 0700) < 0 && errno != EEXIST)
		goto fail;
	if (lstat(srv->state_dir, &st) < 0)
		goto fail;
	if (!S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
	    (st.st_mode & 077)) {
		snprintf(err, errsz, "state directory %.400s must be a 0700 "
			 "directory of uid %u", srv->state_dir,
			 (unsigned)getuid());
		return -EACCES;
	}
	return 0;
fail:
	snprintf(err, errsz, "state directory %.400s: %s", srv->state_dir,
		 strerror(errno));
	return -errno;
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

static int td_start(struct td_server *srv, struct td_opts *o, char *err,
		    size_t errsz)
{
	int rc, sig = 0;

	if ((rc = td_std_fds()) < 0) {
		snprintf(err, errsz, "cannot open /dev/null: %s",
			 strerror(-rc));
		return rc;
	}
	getrlimit(RLIMIT_NOFILE, &srv->nofile_orig);
	/* Grandchildren that daemonize are reparented to us, not init. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		rc = -errno;
		snprintf(err, errsz, "PR_SET_CHILD_SUBREAPER: %s",
			 strerror(errno));
		return rc;
	}
	if ((rc = td_ifd_init()) < 0) {
		snprintf(err, errsz, "fd limit: %s", strerror(-rc));
		return rc;
	}
	if ((rc = td_listen_open(srv, err, errsz)) < 0)
		return rc;
	if ((rc = td_state_dir(srv, o->state_dir, err, errsz)) < 0)
		return rc;
	/* After the socket: the log usually lives in its directory. */
	if ((rc = td_log_open(o->log_path)) < 0) {
		snprintf(err, errsz, "cannot open log %s: %s",
			 o->log_path ? o->log_path : "(stderr)", strerror(-rc));
		return rc;
	}
	/* Before the ring: a policy ring starts disabled, to be restricted
	 * before its first submission. */
	if (srv->policy_path && (rc = td_policy_setup(srv, err, errsz)) < 0)
		return rc;
	if ((rc = td_loop_init(srv)) < 0) {
		snprintf(err, errsz, "io_uring: %s", strerror(-rc));
		return rc;
	}
	/* After the loop has blocked its signals (the helpers inherit the
	 * mask), before the filter (threads cannot be made under it). */
	if ((rc = td_pool_start(srv, o->helpers)) < 0) {
		snprintf(err, errsz, "helper threads: %s", strerror(-rc));
		return rc;
	}
	/* Last: from here on the server can do only what it needs and what
	 * the policy allows. */
	if (srv->policy && (rc = td_filter_install(srv, err, errsz)) < 0)
		return rc;
	/* Started by a controller (PDEATHSIG set): not persistent yet. */
	prctl(PR_GET_PDEATHSIG, &sig);
	srv->persistent = sig == 0;
	return 0;
}

int main(int argc, char **argv)
{
	struct td_server srv;
	struct td_opts o = { .ready_fd = -1, .helpers = TD_POOL_DEFAULT };
	char path[4096], err[512] = "";
	int rc;

	memset(&srv, 0, sizeof(srv));
	srv.listen_fd = srv.lock_fd = srv.signal_fd = srv.spawner_fd = -1;
	if ((rc = td_parse(argc, argv, &o, &srv)) != 0)
		goto out;
	if (o.check_policy) {
		rc = td_policy_check_main(o.check_policy);
		goto out;
	}
	if (!o.socket_path) {
		if (tp_default_socket_path(path, sizeof(path)) < 0) {
			fprintf(stderr, "tetherd: cannot build a socket path\n");
			return 1;
		}
		o.socket_path = path;
	}
	srv.socket_path = o.socket_path;
	srv.pid = getpid();
	srv.uid = getuid();
	clock_gettime(CLOCK_MONOTONIC, &srv.started);

	if ((rc = td_start(&srv, &o, err, sizeof(err))) < 0) {
		td_log("cannot start: %s", err[0] ? err : strerror(-rc));
		td_ready(o.ready_fd, -rc, err[0] ? err : strerror(-rc));
		td_listen_close(&srv);
		td_pool_stop(&srv);
		td_spawner_stop(&srv);
		rc = 1;
		goto out;
	}
	td_log("listening on %s (protocol %d, %s%s%s)", srv.socket_path,
	       TETHER_PROTO_VERSION,
	       srv.persistent ? "persistent" : "dies with its controller",
	       srv.policy ? ", policy " : "",
	       srv.policy ? srv.policy_path : "");
	td_ready(o.ready_fd, 0, NULL);
	rc = td_loop_run(&srv);
	td_listen_close(&srv);
	/* Everything that may still point at the ring goes before it; the
	 * helpers before the jobs they run, the jobs before the workers
	 * they watch. */
	srv.exiting = true;
	td_pool_stop(&srv);
	if (!srv.pool)
		td_jobs_free_all(&srv);
	td_workers_free(&srv);
	td_labels_free(&srv);
	td_mem_free_all(&srv);
	io_uring_queue_exit(&srv.ring);
	td_timers_free(&srv);
	td_arena_free();
	td_spawner_stop(&srv);
	td_log("exiting");
	rc = rc < 0 ? 1 : 0;
out:
	td_policy_free(srv.policy);
	free(srv.allow_uids);
	free(srv.allow_gids);
	free(srv.ro_uids);
	return rc;
}
