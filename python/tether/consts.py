"""Flag values as the server's architecture spells them.

The kernel's numbers for x86_64 and aarch64 (tetherd's HELLO "arch");
they agree except for a few open(2) flags.  for_arch(arch) returns a
namespace: consts.O_RDONLY, consts.AT_FDCWD ...
"""
import types

_COMMON = dict(
    # *at()
    AT_FDCWD=-100, AT_SYMLINK_NOFOLLOW=0x100, AT_REMOVEDIR=0x200,
    AT_SYMLINK_FOLLOW=0x400, AT_NO_AUTOMOUNT=0x800, AT_EMPTY_PATH=0x1000,
    AT_EACCESS=0x200,
    # open(2)
    O_RDONLY=0, O_WRONLY=1, O_RDWR=2, O_ACCMODE=3, O_CREAT=0o100,
    O_EXCL=0o200, O_NOCTTY=0o400, O_TRUNC=0o1000, O_APPEND=0o2000,
    O_NONBLOCK=0o4000, O_DSYNC=0o10000, O_ASYNC=0o20000,
    O_NOATIME=0o1000000, O_CLOEXEC=0o2000000, O_SYNC=0o4010000,
    O_PATH=0o10000000,
    # fcntl(2)
    F_DUPFD=0, F_GETFD=1, F_SETFD=2, F_GETFL=3, F_SETFL=4, F_SETLK=6,
    F_SETLKW=7, F_DUPFD_CLOEXEC=1030, FD_CLOEXEC=1,
    # lseek(2)
    SEEK_SET=0, SEEK_CUR=1, SEEK_END=2,
    # mmap(2)
    PROT_NONE=0, PROT_READ=1, PROT_WRITE=2, PROT_EXEC=4,
    MAP_SHARED=1, MAP_PRIVATE=2, MAP_FIXED=0x10, MAP_ANONYMOUS=0x20,
    # sockets
    AF_UNIX=1, AF_INET=2, AF_INET6=10, SOCK_STREAM=1, SOCK_DGRAM=2,
    SOCK_SEQPACKET=5, SOCK_NONBLOCK=0o4000, SOCK_CLOEXEC=0o2000000,
    MSG_DONTWAIT=0x40, MSG_NOSIGNAL=0x4000,
    # flock(2), eventfd(2), memfd_create(2), pipe2(2)
    LOCK_SH=1, LOCK_EX=2, LOCK_NB=4, LOCK_UN=8,
    EFD_SEMAPHORE=1, EFD_NONBLOCK=0o4000, EFD_CLOEXEC=0o2000000,
    MFD_CLOEXEC=1, MFD_ALLOW_SEALING=2,
    # clocks
    CLOCK_REALTIME=0, CLOCK_MONOTONIC=1, CLOCK_BOOTTIME=7,
    # signals (both architectures number them alike)
    SIGHUP=1, SIGINT=2, SIGQUIT=3, SIGILL=4, SIGTRAP=5, SIGABRT=6,
    SIGBUS=7, SIGFPE=8, SIGKILL=9, SIGUSR1=10, SIGSEGV=11, SIGUSR2=12,
    SIGPIPE=13, SIGALRM=14, SIGTERM=15, SIGCHLD=17, SIGCONT=18,
    SIGSTOP=19, SIGTSTP=20, SIGTTIN=21, SIGTTOU=22, SIGWINCH=28,
)

_ARCH = {
    "x86_64": dict(O_DIRECT=0o40000, O_LARGEFILE=0, O_DIRECTORY=0o200000,
                   O_NOFOLLOW=0o400000, O_TMPFILE=0o20200000),
    "aarch64": dict(O_DIRECTORY=0o40000, O_NOFOLLOW=0o100000,
                    O_DIRECT=0o200000, O_LARGEFILE=0o400000,
                    O_TMPFILE=0o20040000),
}

ARCHES = tuple(_ARCH)


def for_arch(arch):
    """The constants of arch (KeyError for one this client lacks)."""
    d = dict(_COMMON)
    d.update(_ARCH[arch])
    return types.SimpleNamespace(**d)
