/*
 * --fdstore: every labelled fd is also deposited in the service
 * manager's fd store (FDSTORE=1, with a name), and withdrawn
 * (FDSTOREREMOVE=1) when its label goes.  A tetherd that systemd starts
 * again after a crash -- even SIGKILL -- gets them back in LISTEN_FDS
 * and labels them again, at their old numbers when those are free: no
 * labelled fd is lost with the process.
 *
 * A stored fd's name is "label.<fd>.<label>", the label with ':' (the
 * separator of LISTEN_FDNAMES), '%' and bytes beyond ASCII written %XX;
 * a name over systemd's 255 bytes is not stored (logged).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tetherd.h"

/* The name under which fd's label is stored; -ENAMETOOLONG if it does
 * not fit systemd's limit. */
static int td_fdstore_name(char *buf, size_t size, int fd, const char *label)
{
	size_t n = (size_t)snprintf(buf, size, TD_FDSTORE_PREFIX "%d.", fd);

	for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
		if (n + 4 > size || n + 4 > TD_FDNAME_MAX + 1)
			return -ENAMETOOLONG;
		if (*p == ':' || *p == '%' || *p < 0x20 || *p >= 0x7f)
			n += (size_t)snprintf(buf + n, size - n, "%%%02X", *p);
		else
			buf[n++] = (char)*p;
	}
	buf[n] = '\0';
	return n > TD_FDNAME_MAX ? -ENAMETOOLONG : 0;
}

static int td_fdstore_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* "label.5.db%3Amain" -> 5, "db:main"; -EINVAL if it is not one of
 * ours or not a label tetherd would have set. */
static int td_fdstore_parse(const char *name, int *fd, char *label,
			    size_t size)
{
	const char *p = name + strlen(TD_FDSTORE_PREFIX);
	char *end;
	size_t n = 0;
	long v;

	errno = 0;
	v = strtol(p, &end, 10);
	if (errno || end == p || *end != '.' || v < 0 || v > INT32_MAX)
		return -EINVAL;
	for (p = end + 1; *p; p++) {
		int hi, lo;

		if (n + 1 >= size)
			return -EINVAL;
		if (*p != '%') {
			label[n++] = *p;
			continue;
		}
		if ((hi = td_fdstore_hex(p[1])) < 0 ||
		    (lo = td_fdstore_hex(p[2])) < 0)
			return -EINVAL;
		label[n++] = (char)(hi << 4 | lo);
		p += 2;
	}
	label[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)label[i] < 0x20 || label[i] == 0x7f)
			return -EINVAL;
	if (!n || n > TETHER_LABEL_MAX)
		return -EINVAL;
	*fd = (int)v;
	return 0;
}

int td_fdstore_put(struct td_server *srv, int fd, const char *label)
{
	char name[TD_FDNAME_MAX + 64], text[sizeof(name) + 32];

	if (!srv->notify.fdstore || !td_notify_on(srv))
		return -1;
	if (td_fdstore_name(name, sizeof(name), fd, label) < 0) {
		td_log_at(LOG_WARNING, "label \"%s\" on fd %d is too long for "
			  "the fd store (%d bytes, escaped): not kept there",
			  label, fd, TD_FDNAME_MAX);
		return -1;
	}
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\n", name);
	td_notify_send(srv, text, fd);
	return fd;
}

static void td_fdstore_remove_name(struct td_server *srv, const char *name)
{
	char text[TD_FDNAME_MAX + 128];

	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%.*s\n",
		 TD_FDNAME_MAX, name);
	td_notify_send(srv, text, -1);
}

/* Whatever --fdstore says now: a label that is in the store leaves it
 * with its fd, or it would come back after a restart. */
void td_fdstore_drop(struct td_server *srv, int stored_fd, const char *label)
{
	char name[TD_FDNAME_MAX + 64];

	if (stored_fd >= 0 &&
	    td_fdstore_name(name, sizeof(name), stored_fd, label) == 0)
		td_fdstore_remove_name(srv, name);
}

/* Where a stored fd goes back: its old number if that is free (and a
 * controller's number); else, only on the second pass (once every fd
 * that can have its own number has it), the lowest free one. */
static int td_fdstore_place(int ifd, int want, bool any)
{
	int fd;

	if (want > 2 && want < TD_IFD_FLOOR && fcntl(want, F_GETFD) < 0 &&
	    errno == EBADF && (fd = dup3(ifd, want, 0)) >= 0)
		return fd;
	if (!any)
		return -EAGAIN;
	fd = fcntl(ifd, F_DUPFD, 3);
	return fd < 0 ? -errno : fd;
}

/* Stored fd s labelled again, placed as td_fdstore_place says: false
 * if it must wait for the second pass. */
static bool td_fdstore_restore_one(struct td_server *srv, struct td_sd_fd *s,
				   bool any)
{
	char label[TETHER_LABEL_MAX + 2];
	int want, fd, rc;

	if (td_fdstore_parse(s->name, &want, label, sizeof(label)) < 0) {
		td_log_at(LOG_WARNING, "fd store: \"%s\" is not a label of "
			  "tetherd's: closed and removed", s->name);
		td_fdstore_remove_name(srv, s->name);
		goto drop;
	}
	if ((fd = td_fdstore_place(s->fd, want, any)) == -EAGAIN)
		return false;
	if (fd < 0) {
		td_log_at(LOG_ERR, "fd store: label \"%s\": %s", label,
			  strerror(-fd));
		goto drop;
	}
	if ((rc = td_label_restore(srv, fd, label, want)) < 0) {
		td_log_at(LOG_WARNING, "fd store: label \"%s\": %s: closed and "
			  "removed", label, strerror(-rc));
		close(fd);
		td_fdstore_drop(srv, want, label);
	}
drop:
	td_ifd_close(s->fd);
	s->fd = -1;
	return true;
}

void td_fdstore_restore(struct td_server *srv)
{
	struct td_activation *a = &srv->activation;

	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < a->nstored; i++)
			if (a->stored[i].fd >= 0)
				td_fdstore_restore_one(srv, &a->stored[i],
						       pass == 1);
	a->nstored = 0;
}
