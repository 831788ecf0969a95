"""Starting a tetherd, as libtether's tether_start does: our child with
PDEATHSIG until it is made persistent, readiness ("READY <pid>" or
"ERROR <errno> <text>") on a pipe, then attach and PERSIST."""
import ctypes
import errno
import os
import select
import shutil
import signal
import subprocess

from .errors import Error
from .paths import default_socket_path

TIMEOUT = 10.0
PR_SET_PDEATHSIG = 1


def _child_setup():
    # dies with us until PERSIST clears it; no signal of ours blocked
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG,
                                            signal.SIGKILL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def tetherd_path(tetherd=None):
    """tetherd, else $TETHERD, else the installed one, else on PATH."""
    if tetherd or os.environ.get("TETHERD"):
        return tetherd or os.environ["TETHERD"]
    for p in ("/usr/local/sbin/tetherd", "/usr/sbin/tetherd"):
        if os.access(p, os.X_OK):
            return p
    return shutil.which("tetherd") or "tetherd"


def start(path=None, tetherd=None, log=None, args=(), persist=True):
    """Start tetherd on path (None: the default socket), attach to it and
    make it persistent: the Client."""
    from .client import Client
    path = path if path is not None else default_socket_path()
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, mode=0o700, exist_ok=True)
    r, w = os.pipe()
    argv = [tetherd_path(tetherd), "--socket", path, "--ready-fd", str(w)]
    if log:
        argv += ["--log", log]
    try:
        proc = subprocess.Popen(argv + list(args), pass_fds=(w,),
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                preexec_fn=_child_setup)
    except OSError as e:
        os.close(r)
        os.close(w)
        raise Error(e.errno, "cannot execute %s: %s" % (argv[0], e.strerror))
    os.close(w)
    try:
        line = _ready_line(r)
    finally:
        os.close(r)
    if line.startswith("READY "):
        c = Client(path)
        c.tetherd = proc
        if persist:
            c.persist()
        return c
    proc.wait()
    parts = line.split(" ", 2)
    if parts[0] == "ERROR" and len(parts) == 3 and parts[1].isdigit():
        raise Error(int(parts[1]), parts[2])
    raise Error(errno.ECHILD, "tetherd exited before it was ready")


def _ready_line(fd):
    buf = b""
    while b"\n" not in buf:
        ready, _, _ = select.select([fd], [], [], TIMEOUT)
        if not ready:
            raise Error(errno.ETIMEDOUT, "tetherd did not report readiness "
                        "within %d s" % TIMEOUT)
        data = os.read(fd, 512)
        if not data:
            break
        buf += data
    return buf.split(b"\n", 1)[0].decode(errors="replace")
