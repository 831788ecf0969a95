/*
 * Files whose every call may wait on a network or a daemon.
 *
 * On FUSE, NFS, CIFS and the like, a read, an fstat, even a close (FUSE
 * sends a FLUSH, NFS writes back what is dirty) asks a server somewhere,
 * and waits as long as that server does: for ever, if it hangs.  The
 * loop must not make such a call itself (exec/syscall.c sends it to the
 * ring or a helper), and must not even ask the filesystem what it is:
 * fstatfs() is one of those calls.
 *
 * So: statx() with AT_STATX_DONT_SYNC, which the network and FUSE
 * filesystems answer from what they hold, for the file's type and its
 * mount's unique id (STATX_MNT_ID_UNIQUE, Linux 6.8); statmount() for
 * that mount's superblock magic, which only reads the mount table; and a
 * list of filesystems known to answer from the machine itself.  A mount
 * id is never reused, so what was learnt about one holds for ever and is
 * kept (a few dozen mounts at most).  Anything that cannot be told --
 * an older kernel, a mount in another namespace -- counts as remote:
 * not sure it cannot block, so off the loop (rule 7).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "tetherd.h"

#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef SYS_statmount
#define SYS_statmount 457
#endif
#define TD_STATMOUNT_SB_BASIC 0x1u

/* The start of the kernel's struct mnt_id_req (v0) and struct statmount
 * (include/uapi/linux/mount.h), which older headers lack. */
struct td_mnt_id_req {
	uint32_t size;
	uint32_t spare;
	uint64_t mnt_id;
	uint64_t param;
};

struct td_statmount {
	uint32_t size;
	uint32_t mnt_opts;
	uint64_t mask;
	uint32_t sb_dev_major;
	uint32_t sb_dev_minor;
	uint64_t sb_magic;
	uint32_t sb_flags;
	uint32_t fs_type;
	uint64_t rest[60];		/* room for what newer kernels add */
};

#define TD_MOUNTS_KEPT 64

/* Filesystems that answer from this machine: a call on them waits for
 * a disk at worst, never for a network or a daemon.  Not overlayfs: its
 * layers may be anything (a hostile walk-through stacked one on FUSE,
 * and a read of it stopped the loop).  A local filesystem on a loop
 * device whose file is on FUSE cannot be told: see tetherd(8). */
static bool td_magic_local(uint64_t magic)
{
	switch (magic) {
	case EXT4_SUPER_MAGIC:		/* and ext2, ext3 */
	case XFS_SUPER_MAGIC: case BTRFS_SUPER_MAGIC: case F2FS_SUPER_MAGIC:
	case SQUASHFS_MAGIC: case TMPFS_MAGIC: case RAMFS_MAGIC:
	case PROC_SUPER_MAGIC: case SYSFS_MAGIC:
	case CGROUP_SUPER_MAGIC: case CGROUP2_SUPER_MAGIC:
	case DEBUGFS_MAGIC: case TRACEFS_MAGIC: case SECURITYFS_MAGIC:
	case BPF_FS_MAGIC: case HUGETLBFS_MAGIC: case MSDOS_SUPER_MAGIC:
	case ISOFS_SUPER_MAGIC: case DEVPTS_SUPER_MAGIC:
		return true;
	default:
		return false;
	}
}

/* What is known of the mounts met so far.  The loop's thread and the
 * helpers both ask (helpers through routing code shared with the loop
 * never do today, but nothing here is worth a race): a lock. */
static struct {
	uint64_t id;
	bool local;
} td_mounts[TD_MOUNTS_KEPT];
static unsigned td_nmounts, td_mounts_next;
static pthread_mutex_t td_mounts_lock = PTHREAD_MUTEX_INITIALIZER;

static bool td_mount_local(uint64_t id)
{
	struct td_mnt_id_req req = { .size = 24, .mnt_id = id,
				     .param = TD_STATMOUNT_SB_BASIC };
	struct td_statmount sm;
	bool local;
	unsigned i;

	pthread_mutex_lock(&td_mounts_lock);
	for (i = 0; i < td_nmounts; i++)
		if (td_mounts[i].id == id) {
			local = td_mounts[i].local;
			pthread_mutex_unlock(&td_mounts_lock);
			return local;
		}
	pthread_mutex_unlock(&td_mounts_lock);
	memset(&sm, 0, sizeof(sm));
	local = syscall(SYS_statmount, &req, &sm, sizeof(sm), 0) == 0 &&
		(sm.mask & TD_STATMOUNT_SB_BASIC) && td_magic_local(sm.sb_magic);
	pthread_mutex_lock(&td_mounts_lock);
	i = td_nmounts < TD_MOUNTS_KEPT ? td_nmounts++
					 : td_mounts_next++ % TD_MOUNTS_KEPT;
	td_mounts[i].id = id;
	td_mounts[i].local = local;
	pthread_mutex_unlock(&td_mounts_lock);
	return local;
}

int td_fstat_nowait(int fd, struct stat *st, bool *remote)
{
	struct statx sx;

	/* No times, no block count: NFS writes dirty pages back to give
	 * those (when it is asked to sync at all). */
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
		  STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID |
		  STATX_GID | STATX_INO | STATX_SIZE | STATX_MNT_ID_UNIQUE,
		  &sx) < 0)
		return -errno;
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	st->st_rdev = makedev(sx.stx_rdev_major, sx.stx_rdev_minor);
	st->st_ino = sx.stx_ino;
	st->st_mode = sx.stx_mode;
	st->st_nlink = sx.stx_nlink;
	st->st_uid = sx.stx_uid;
	st->st_gid = sx.stx_gid;
	st->st_size = (off_t)sx.stx_size;
	if (remote)
		/* Only files and directories reach their filesystem's code;
		 * a FIFO, socket or device node on FUSE is the kernel's. */
		*remote = (S_ISREG(sx.stx_mode) || S_ISDIR(sx.stx_mode)) &&
			  (!(sx.stx_mask & STATX_MNT_ID_UNIQUE) ||
			   !td_mount_local(sx.stx_mnt_id));
	return 0;
}

bool td_fd_remote(int fd)
{
	struct stat st;
	bool remote;

	return td_fstat_nowait(fd, &st, &remote) == 0 && remote;
}
