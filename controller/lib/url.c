/*
 * tether_connect_url: a server named by URL.  unix://PATH is
 * tether_connect_uid; ssh://[USER@]HOST[:PORT][/SOCKET] runs the ssh on
 * PATH with `tetherctl dial-stdio [-s SOCKET]` as the remote command
 * (the docker -H ssh:// convention: ssh authenticates and encrypts, the
 * user's ssh config and agent apply) and relays the two sockets over
 * its stdio (relay.c).  The rest of the library sees ordinary sockets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libtether.h"
#include "relay.h"

#define TL_URL_SSH "ssh://"
#define TL_URL_UNIX "unix://"

/* Characters a word of the remote command may have unquoted. */
static bool tl_url_plain(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789/._-+:,=@%", *s))
			return false;
	return true;
}

/* s for the remote shell: as it is when it is plain, else in single
 * quotes (each ' as '\''). */
static int tl_url_word(char *buf, size_t size, size_t *at, const char *s)
{
	size_t n = *at;

	if (tl_url_plain(s)) {
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, " %s", s);
	} else {
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, " '");
		for (; *s; s++)
			n += (size_t)snprintf(buf + n, n < size ? size - n : 0,
					      *s == '\'' ? "'\\''" : "%c", *s);
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "'");
	}
	*at = n;
	return n < size ? 0 : -ENAMETOOLONG;
}

/* The remote command: TETHER_REMOTE_TETHERCTL (else tetherctl)
 * dial-stdio [-s SOCKET]. */
static int tl_url_command(struct tl_ssh *s)
{
	const char *prog = getenv("TETHER_REMOTE_TETHERCTL");
	size_t at = 0;
	int rc;

	if (!prog || !*prog)
		prog = "tetherctl";
	rc = tl_url_word(s->command, sizeof(s->command), &at, prog);
	if (!rc)
		rc = tl_url_word(s->command, sizeof(s->command), &at,
				 "dial-stdio");
	if (!rc && s->path[0]) {
		rc = tl_url_word(s->command, sizeof(s->command), &at, "-s");
		if (!rc)
			rc = tl_url_word(s->command, sizeof(s->command), &at,
					 s->path);
	}
	/* the leading blank */
	memmove(s->command, s->command + 1, strlen(s->command));
	return rc;
}

static int tl_url_copy(struct tether *t, char *dst, size_t size,
		       const char *p, size_t n, const char *what)
{
	if (n >= size)
		return tl_fail(t, ENAMETOOLONG, "URL: %s too long", what);
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

/* [USER@]HOST[:PORT]: HOST may be [IPv6]; nothing may start with '-'
 * (ssh would read an option). */
static int tl_url_authority(struct tether *t, struct tl_ssh *s,
			    const char *p, size_t n)
{
	const char *at = memchr(p, '@', n), *h, *end = p + n, *colon;
	unsigned long port;
	char *e;
	int rc;

	if (at && (rc = tl_url_copy(t, s->user, sizeof(s->user), p,
				    (size_t)(at - p), "user")) < 0)
		return rc;
	h = at ? at + 1 : p;
	if (*h == '[') {
		if (!(colon = memchr(h, ']', (size_t)(end - h))))
			return tl_fail(t, EINVAL, "URL: '[' without ']'");
		rc = tl_url_copy(t, s->host, sizeof(s->host), h + 1,
				 (size_t)(colon - h - 1), "host");
		colon++;
		if (colon < end && *colon != ':')
			return tl_fail(t, EINVAL, "URL: junk after ']'");
	} else {
		colon = memchr(h, ':', (size_t)(end - h));
		rc = tl_url_copy(t, s->host, sizeof(s->host), h,
				 (size_t)((colon ? colon : end) - h), "host");
	}
	if (rc < 0)
		return rc;
	if (colon && colon < end) {
		if ((rc = tl_url_copy(t, s->port, sizeof(s->port), colon + 1,
				      (size_t)(end - colon - 1), "port")) < 0)
			return rc;
		port = strtoul(s->port, &e, 10);
		if (!s->port[0] || *e || s->port[0] == '0' || port > 65535)
			return tl_fail(t, EINVAL, "URL: bad port '%s'", s->port);
	}
	if (!s->host[0] || s->host[0] == '-' || s->user[0] == '-' ||
	    (at && !s->user[0]) || strpbrk(s->host, "@/ \t\n") ||
	    strpbrk(s->user, ":/ \t\n"))
		return tl_fail(t, EINVAL, "URL: bad user or host in '%.*s'",
			       (int)n, p);
	return 0;
}

/* ssh://[USER@]HOST[:PORT][/ABSOLUTE/SOCKET] */
static int tl_url_parse_ssh(struct tether *t, const char *url,
			    struct tl_ssh *s)
{
	const char *p = url + strlen(TL_URL_SSH);
	const char *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);
	int rc;

	memset(s, 0, sizeof(*s));
	if (strpbrk(url, "?#"))
		return tl_fail(t, EINVAL, "URL: no query or fragment: %s", url);
	if ((rc = tl_url_authority(t, s, p, n)) < 0)
		return rc;
	/* "ssh://host/" names no socket: the remote default */
	if (slash && slash[1] && (rc = tl_url_copy(t, s->path, sizeof(s->path), slash,
				       strlen(slash), "socket path")) < 0)
		return rc;
	if ((rc = tl_url_command(s)) < 0)
		return tl_fail(t, -rc, "URL: remote command too long");
	return 0;
}

static int tl_connect_ssh(struct tether *t, const char *url, unsigned flags,
			  uid_t server_uid)
{
	struct tl_ssh *s = calloc(1, sizeof(*s));
	int rc;

	t->cause = TETHER_CAUSE_CONNECTION;
	if (!s)
		return tl_fail(t, ENOMEM, "out of memory");
	/* PIPELINE: ignored, the relay reads the answer first anyway */
	flags &= ~TETHER_CONNECT_PIPELINE;
	if (flags & ~(TETHER_CONNECT_TAKEOVER | TETHER_CONNECT_OBSERVE))
		rc = tl_fail(t, EINVAL, "unknown connect flags");
	else if ((rc = tl_url_parse_ssh(t, url, s)) == 0)
		rc = tl_relay_start(t, s, flags, server_uid);
	free(s);
	return rc;
}

TETHER_API int tether_connect_url(const char *url, unsigned flags,
				  uid_t server_uid, struct tether **out)
{
	struct tether *t;
	int rc;

	*out = NULL;
	if (!url || !strncmp(url, TL_URL_UNIX, strlen(TL_URL_UNIX))) {
		url = url ? url + strlen(TL_URL_UNIX) : NULL;
		return tether_connect_uid(url && *url ? url : NULL, flags,
					  server_uid, out);
	}
	if (!(t = tl_alloc()))
		return -ENOMEM;
	t->cause = TETHER_CAUSE_CONNECTION;
	if (strncmp(url, TL_URL_SSH, strlen(TL_URL_SSH)))
		rc = tl_fail(t, EINVAL, "URL '%s': not ssh://[USER@]HOST"
			     "[:PORT][/SOCKET] or unix://PATH", url);
	else
		rc = tl_connect_ssh(t, url, flags, server_uid);
	if (rc < 0) {
		tl_set_orphan_error(t->err);
		tl_set_orphan_cause(t->cause);
		tl_free(t);
		return rc;
	}
	*out = t;
	return 0;
}
