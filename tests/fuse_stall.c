/*
 * fuse_stall DIR: a FUSE filesystem whose daemon can stop answering,
 * for the tests of what tetherd's loop must never wait on.
 *
 * It mounts itself on DIR (root only: mount(2) with /dev/fuse, the
 * kernel's protocol spoken directly, no libfuse), holds one regular
 * file, "f" (FUSE_STALL_SIZE bytes of 'a'..'z'), and prints "READY" on
 * stdout.  Then it reads commands on stdin, one byte each:
 *   s  stall: read no more requests (whoever asks waits in the kernel);
 *      answers "STALLED"
 *   R, F, G, P  park the next READ, FLUSH, GETATTR or POLL: leave it
 *      unanswered
 *      and read nothing more (as s), saying "PARKED READ" (FLUSH,
 *      GETATTR, POLL) when it comes -- so a test knows someone waits
 *   +  the next park lets one more such request through first
 *   r  resume: answer the parked request (a park not yet met is
 *      dropped), serve what waited; answers "RESUMED"
 *   q  or end of file: unmount (lazily) and exit
 * Attributes are never cached (attr_valid 0), so every fstat of "f"
 * asks the daemon; names are (entry_valid 1 hour), so a cached lookup
 * of "f" does not.  Reads go to the daemon too (FOPEN_DIRECT_IO), and
 * every close of "f" sends a FLUSH; it answers polls (readable), so
 * the kernel keeps asking.  Killed, it leaves the mount
 * aborted: every waiting call fails with ENOTCONN.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define FUSE_STALL_SIZE 8192
#define FUSE_STALL_BUF (1u << 20)

static int fuse_fd = -1;
static uint32_t park_op;		/* park the next request of this op */
static unsigned park_skip;		/* after letting this many through */
static char parked[1u << 16];		/* the one parked, or none */
static int stalled;

static void fs_reply(uint64_t unique, int err, const void *p, size_t n)
{
	struct fuse_out_header h = {
		.len = (uint32_t)(sizeof(h) + (err ? 0 : n)),
		.error = -err,
		.unique = unique,
	};
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, err ? 0 : n } };

	/* ENOENT: the request was interrupted and is gone; fine. */
	(void)writev(fuse_fd, iov, 2);
}

static void fs_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = ino == FUSE_ROOT_ID ? S_IFDIR | 0755 : S_IFREG | 0644;
	a->nlink = ino == FUSE_ROOT_ID ? 2 : 1;
	a->size = ino == FUSE_ROOT_ID ? 0 : FUSE_STALL_SIZE;
	a->blksize = 4096;
	a->blocks = (a->size + 511) / 512;
}

static void fs_serve(const char *req)
{
	const struct fuse_in_header *in = (const void *)req;
	const char *arg = req + sizeof(*in);

	if (park_op && in->opcode == park_op && park_skip)
		park_skip--;
	else if (park_op && in->opcode == park_op &&
		 in->len <= sizeof(parked)) {
		memcpy(parked, req, in->len);
		park_op = 0;
		stalled = 1;
		printf("PARKED %s\n", in->opcode == FUSE_READ ? "READ"
				     : in->opcode == FUSE_FLUSH ? "FLUSH"
				     : in->opcode == FUSE_POLL ? "POLL"
								: "GETATTR");
		return;
	}
	switch (in->opcode) {
	case FUSE_INIT: {
		const struct fuse_init_in *ii = (const void *)arg;
		struct fuse_init_out o = {
			.major = FUSE_KERNEL_VERSION,
			.minor = FUSE_KERNEL_MINOR_VERSION,
			.max_readahead = ii->max_readahead,
			.max_write = 128 << 10,
			.max_background = 16,
			.congestion_threshold = 12,
			.time_gran = 1,
		};
		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_LOOKUP: {
		struct fuse_entry_out o = { 0 };

		if (in->nodeid != FUSE_ROOT_ID || strcmp(arg, "f")) {
			fs_reply(in->unique, ENOENT, NULL, 0);
			break;
		}
		o.nodeid = 2;
		o.entry_valid = 3600;
		fs_attr(2, &o.attr);
		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_attr_out o = { 0 };

		fs_attr(in->nodeid, &o.attr);
		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_out o = { .fh = 1 };

		if (in->opcode == FUSE_OPEN)
			o.open_flags = FOPEN_DIRECT_IO;
		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READ: {
		const struct fuse_read_in *ri = (const void *)arg;
		static char data[FUSE_STALL_SIZE];
		uint64_t off = ri->offset, n = ri->size;

		for (size_t i = 0; i < sizeof(data); i++)
			data[i] = (char)('a' + i % 26);
		if (off > FUSE_STALL_SIZE)
			off = FUSE_STALL_SIZE;
		if (n > FUSE_STALL_SIZE - off)
			n = FUSE_STALL_SIZE - off;
		fs_reply(in->unique, 0, data + off, n);
		break;
	}
	case FUSE_STATFS: {
		struct fuse_statfs_out o = { 0 };

		o.st.bsize = o.st.frsize = 4096;
		o.st.namelen = 255;
		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_FLUSH:
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_ACCESS:
		fs_reply(in->unique, 0, NULL, 0);
		break;
	case FUSE_POLL: {	/* always readable: it is a file */
		struct fuse_poll_out o = { .revents = POLLIN | POLLRDNORM };

		fs_reply(in->unique, 0, &o, sizeof(o));
		break;
	}
	case FUSE_READDIR:	/* an empty listing */
		fs_reply(in->unique, 0, NULL, 0);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		break;		/* no answer is expected */
	case FUSE_DESTROY:
		fs_reply(in->unique, 0, NULL, 0);
		exit(0);
	default:
		fs_reply(in->unique, ENOSYS, NULL, 0);
	}
}

int main(int argc, char **argv)
{
	static char buf[FUSE_STALL_BUF];
	char opts[128];

	if (argc != 2) {
		fprintf(stderr, "usage: fuse_stall DIR\n");
		return 2;
	}
	if ((fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
		perror("fuse_stall: /dev/fuse");
		return 1;
	}
	snprintf(opts, sizeof(opts),
		 "fd=%d,rootmode=40000,user_id=0,group_id=0,allow_other",
		 fuse_fd);
	if (mount("fuse_stall", argv[1], "fuse", MS_NOSUID | MS_NODEV,
		  opts) < 0) {
		perror("fuse_stall: mount");
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	printf("READY\n");
	for (;;) {
		struct pollfd p[2] = { { 0, POLLIN, 0 }, { fuse_fd, POLLIN, 0 } };

		if (poll(p, stalled ? 1 : 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents) {
			char c;

			if (read(0, &c, 1) != 1 || c == 'q')
				break;
			switch (c) {
			case 's':
				stalled = 1;
				printf("STALLED\n");
				break;
			case 'R': park_op = FUSE_READ; break;
			case 'F': park_op = FUSE_FLUSH; break;
			case 'G': park_op = FUSE_GETATTR; break;
			case 'P': park_op = FUSE_POLL; break;
			case '+': park_skip++; break;
			case 'r': {
				struct fuse_in_header *ph = (void *)parked;

				stalled = 0;
				park_op = 0;
				if (ph->len) {
					ph->len = 0;
					fs_serve(parked);
				}
				printf("RESUMED\n");
				break;
			}
			}
			continue;
		}
		if (!stalled && p[1].revents) {
			ssize_t n = read(fuse_fd, buf, sizeof(buf));

			if (n < 0 && (errno == EINTR || errno == ENOENT ||
				      errno == EAGAIN))
				continue;
			if (n < (ssize_t)sizeof(struct fuse_in_header))
				break;	/* unmounted */
			fs_serve(buf);
		}
	}
	umount2(argv[1], MNT_DETACH);
	return 0;
}
