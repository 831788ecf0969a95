"""Where tetherd listens, and whether the way there can be trusted.

The same rules as libtether (tether-protocol(7), HANDSHAKE): the default
socket is $TETHER_SOCKET, else $XDG_RUNTIME_DIR/tether/tetherd.sock,
else /run/user/UID/tether/tetherd.sock when that directory is ours, else
/tmp/tether-UID/tetherd.sock.  Before a byte goes out, every directory on
the way must belong to us, root or the server uid named, and be writable
by nobody else unless sticky: /tmp/tether-UID can be made by anyone.
"""
import errno
import os
import stat

from .errors import Error

LINKS_MAX = 40


def default_socket_path(run="/run/user", tmp="/tmp"):
    env = os.environ.get("TETHER_SOCKET")
    if env:
        return env
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and xdg.startswith("/"):
        return xdg + "/tether/tetherd.sock"
    uid = os.getuid()
    d = "%s/%d" % (run, uid)
    try:
        st = os.stat(d)
        if stat.S_ISDIR(st.st_mode) and st.st_uid == uid:
            return d + "/tether/tetherd.sock"
    except OSError:
        pass
    return "%s/tether-%d/tetherd.sock" % (tmp, uid)


def _who(uid, also):
    if also is None or also == uid:
        return "uid %d or root" % uid
    return "uid %d, uid %d or root" % (uid, also)


class _Walk:
    def __init__(self, uid, also):
        self.uid, self.also, self.links = uid, also, 0

    def trusts(self, owner):
        return owner in (0, self.uid) or \
            (self.also is not None and owner == self.also)

    def check_dir(self, path, st):
        mode = st.st_mode & 0o7777
        if not self.trusts(st.st_uid):
            raise Error(errno.EACCES, "%s belongs to uid %d (mode %04o), "
                        "not to %s" % (path, st.st_uid, mode,
                                       _who(self.uid, self.also)))
        if st.st_mode & stat.S_ISVTX or not st.st_mode & 0o022:
            return
        raise Error(errno.EACCES, "%s is %s-writable (mode %04o) without "
                    "the sticky bit" % (path, "world" if st.st_mode & 0o002
                                        else "group", mode))


def check_dir_chain(d, uid=None, also=None):
    """Raise Error (EACCES, ENOENT, ...) unless every directory from /
    to d (symlinks followed, each trusted) is trusted."""
    w = _Walk(os.geteuid() if uid is None else uid, also)
    rest = [c for c in os.path.join(os.getcwd(), d).split("/") if c]
    cur = "/"
    w.check_dir("/", os.lstat("/"))
    while rest:
        comp = rest.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            cur = os.path.dirname(cur)
            continue
        nxt = os.path.join(cur, comp)
        try:
            st = os.lstat(nxt)
        except OSError as e:
            raise Error(e.errno, "%s: %s" % (nxt, e.strerror))
        if stat.S_ISLNK(st.st_mode):
            if not w.trusts(st.st_uid):
                raise Error(errno.EACCES, "%s is a symlink belonging to uid"
                            " %d, not to %s" % (nxt, st.st_uid,
                                               _who(w.uid, w.also)))
            w.links += 1
            if w.links > LINKS_MAX:
                raise Error(errno.ELOOP, "%s: too many symlinks" % nxt)
            target = os.readlink(nxt)
            rest = [c for c in target.split("/") if c] + rest
            if target.startswith("/"):
                cur = "/"
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise Error(errno.ENOTDIR, "%s is not a directory" % nxt)
        w.check_dir(nxt, st)
        cur = nxt
