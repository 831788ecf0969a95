/* Whole-buffer I/O on blocking fds, retrying EINTR and short transfers. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hash.h"
#include "proto.h"

int tp_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int tp_writev_all(int fd, struct iovec *iov, size_t niov)
{
	bool sock = true;

	while (niov) {
		struct msghdr mh = { .msg_iov = iov,
				     .msg_iovlen = niov < IOV_MAX ? niov
								  : IOV_MAX };
		ssize_t n = sock ? sendmsg(fd, &mh, MSG_NOSIGNAL) : -1;

		if (sock && n < 0 && errno == ENOTSOCK)
			sock = false;
		if (!sock)
			n = writev(fd, iov, (int)mh.msg_iovlen);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		tp_iov_advance(&iov, &niov, (size_t)n);
	}
	return 0;
}

void tp_iov_advance(struct iovec **iov, size_t *niov, size_t n)
{
	struct iovec *v = *iov;
	size_t left = *niov;

	for (; left && n >= v->iov_len; left--, v++)
		n -= v->iov_len;
	if (left && n) {
		v->iov_base = (char *)v->iov_base + n;
		v->iov_len -= n;
	}
	*iov = v;
	*niov = left;
}

int tp_read_all(int fd, void *buf, size_t len)
{
	return tp_read_all_hashed(fd, buf, len, NULL);
}

int tp_read_all_hashed(int fd, void *buf, size_t len, struct tp_hash *h)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		if (h)
			tp_hash_update(h, p, (size_t)n);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t tp_recv_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	return n ? n : -ECONNRESET;
}

int tp_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

int tp_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	/* O_NONBLOCK: a FIFO must not hang the open before fstat refuses
	 * it; regular files ignore the flag. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
			    O_NONBLOCK);
	struct stat st;
	size_t size, got = 0;
	char *p = NULL;
	int rc;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = !S_ISREG(st.st_mode) ? -EINVAL
	     : (uint64_t)st.st_size > max ? -EFBIG : 0;
	if (rc < 0)
		goto fail;
	size = (size_t)st.st_size;
	/* One byte more than fstat said: a file that grew is refused. */
	if (!(p = malloc(size + 1))) {
		rc = -ENOMEM;
		goto fail;
	}
	while (got <= size) {
		ssize_t n = read(fd, p + got, size + 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got > size) {
		rc = -EFBIG;
		goto fail;
	}
	close(fd);
	p[got] = '\0';
	*buf = p;
	*len = got;
	return 0;
fail:
	free(p);
	close(fd);
	return rc;
}

int tp_cmsg_fds(struct msghdr *msg, int *fds, int max)
{
	int nfds = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(int));
			if (nfds < max)
				fds[nfds] = fd;
			else
				close(fd);
			nfds++;
		}
	}
	return nfds;
}

ssize_t tp_send_fds(int sock, const void *buf, size_t len, int flags,
		    const int *fds, int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * TP_SCM_MAX_FD)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { (void *)buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;

	if (nfds < 0 || nfds > TP_SCM_MAX_FD)
		return -EINVAL;
	if (nfds) {
		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.b;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(sock, &msg, flags | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

ssize_t tp_recv_fds(int sock, void *buf, size_t len, int flags, int *fds,
		    int max, int *nfds, int *msg_flags)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * TP_SCM_MAX_FD)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { buf, len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.b,
			      .msg_controllen = sizeof(cbuf.b) };
	ssize_t n;

	do
		n = recvmsg(sock, &msg, flags | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	*nfds = 0;
	if (msg_flags)
		*msg_flags = 0;
	if (n < 0)
		return -errno;
	*nfds = tp_cmsg_fds(&msg, fds, max);
	if (msg_flags)
		*msg_flags = msg.msg_flags;
	return n;
}
