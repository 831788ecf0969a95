/*
 * Socket activation: fds from the service manager, at 3 and up, as
 * LISTEN_FDS / LISTEN_PID / LISTEN_FDNAMES say.  Taken only when
 * LISTEN_PID is ours (a variable inherited from a parent that was
 * activated speaks of its fds, not ours), then unset so that workers
 * never see them.  Each fd moves into the internal band at once: until
 * then it sits where a controller's first open() would land.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <dlfcn.h>

#include "config.h"

#include "tetherd.h"

#define TD_LISTEN_FDS_START 3		/* SD_LISTEN_FDS_START */

/* sd_listen_fds(3)'s rules, where libsystemd cannot be loaded: n fds
 * from 3, names[] ("unknown" when unnamed); close-on-exec set,
 * variables unset. */
static int td_listen_fds_here(char ***names)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char *fdnames = getenv("LISTEN_FDNAMES");
	char *end, **v = NULL;
	long p, n;
	int rc = 0;

	*names = NULL;
	if (!pid || !fds)
		goto out;
	errno = 0;
	p = strtol(pid, &end, 10);
	if (errno || *end || end == pid || p != (long)getpid())
		goto out;
	n = strtol(fds, &end, 10);
	if (errno || *end || end == fds || n < 0 || n > INT32_MAX - 3) {
		rc = -EINVAL;
		goto out;
	}
	if (n && !(v = calloc((size_t)n + 1, sizeof(*v)))) {
		rc = -ENOMEM;
		goto out;
	}
	for (long i = 0; i < n; i++) {
		size_t len = fdnames ? strcspn(fdnames, ":") : 0;

		v[i] = fdnames ? strndup(fdnames, len) : strdup("unknown");
		if (fdnames)
			fdnames = fdnames[len] ? fdnames + len + 1 : NULL;
		if (!v[i] ||
		    fcntl(TD_LISTEN_FDS_START + (int)i, F_SETFD, FD_CLOEXEC) < 0) {
			rc = v[i] ? -errno : -ENOMEM;
			for (long j = 0; j <= i; j++)
				free(v[j]);
			free(v);
			v = NULL;
			goto out;
		}
	}
	*names = v;
	rc = (int)n;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

/* libsystemd's reading of the same, loaded only when there is
 * something to read: linked in, it would map seven more libraries
 * (lzma, zstd, gcrypt ...) into every tetherd, activated or not. */
static int td_listen_fds(char ***names)
{
#ifdef HAVE_LIBSYSTEMD
	int (*with_names)(int, char ***);
	void *lib;

	*names = NULL;
	if (!getenv("LISTEN_FDS"))
		return 0;
	if ((lib = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL))) {
		*(void **)&with_names = dlsym(lib, "sd_listen_fds_with_names");
		if (with_names)
			return with_names(1, names);	/* lib stays loaded */
		dlclose(lib);
	}
#endif
	return td_listen_fds_here(names);
}

static void td_activation_close_from(int first, int n)
{
	for (int i = first; i < n; i++)
		close(TD_LISTEN_FDS_START + i);
}

/* fd i, named name: the listening socket or a stored one. */
static int td_activation_sort(struct td_activation *a, int fd,
			      const char *name, char *err, size_t errsz)
{
	bool stored = !strncmp(name, TD_FDSTORE_PREFIX,
			       strlen(TD_FDSTORE_PREFIX));

	if (!stored && a->listen_fd >= 0) {
		snprintf(err, errsz, "the service manager passed two sockets "
			 "to listen on (\"%s\" and \"%s\"); tetherd listens "
			 "on one", a->listen_name, name);
		close(fd);
		return -EINVAL;
	}
	if ((fd = td_ifd_adopt(fd, stored ? "fd store" : "activation")) < 0) {
		snprintf(err, errsz, "passed fd \"%s\": %s", name,
			 strerror(-fd));
		return fd;
	}
	if (!stored) {
		a->listen_fd = fd;
		snprintf(a->listen_name, sizeof(a->listen_name), "%s", name);
		return 0;
	}
	a->stored[a->nstored].fd = fd;
	snprintf(a->stored[a->nstored].name, sizeof(a->stored[0].name), "%s",
		 name);
	a->nstored++;
	return 0;
}

int td_activation_take(struct td_activation *a, char *err, size_t errsz)
{
	char **names = NULL;
	int n, i, rc = 0;

	memset(a, 0, sizeof(*a));
	a->listen_fd = -1;
	if ((n = td_listen_fds(&names)) <= 0) {
		if (n < 0)
			snprintf(err, errsz, "LISTEN_FDS: %s", strerror(-n));
		return n;
	}
	if (n > TD_ACTIVATION_MAX || !(a->stored = calloc((size_t)n,
							   sizeof(*a->stored)))) {
		snprintf(err, errsz, "LISTEN_FDS=%d: %s", n, n > TD_ACTIVATION_MAX
			 ? "more fds than tetherd takes" : "out of memory");
		rc = n > TD_ACTIVATION_MAX ? -E2BIG : -ENOMEM;
		td_activation_close_from(0, n);
		goto out;
	}
	for (i = 0; i < n; i++)
		if ((rc = td_activation_sort(a, TD_LISTEN_FDS_START + i,
					     names && names[i] ? names[i]
							       : "unknown",
					     err, errsz)) < 0)
			break;
	if (rc < 0) {
		td_activation_close_from(i + 1, n);
		td_activation_free(a);
	}
out:
	for (i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

void td_activation_free(struct td_activation *a)
{
	if (a->listen_fd >= 0)
		td_ifd_close(a->listen_fd);
	for (unsigned i = 0; i < a->nstored; i++)
		if (a->stored[i].fd >= 0)
			td_ifd_close(a->stored[i].fd);
	free(a->stored);
	memset(a, 0, sizeof(*a));
	a->listen_fd = -1;
}
