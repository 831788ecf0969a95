"""A real tetherd for each test, on a socket in a private directory,
started as the C tests start it (tests/fixture.c, libtether's start.c):
tetherd --socket PATH --ready-fd N, "READY <pid>" on that fd."""
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PYDIR = os.path.dirname(HERE)
sys.path.insert(0, PYDIR)

import tether  # noqa: E402


def _tetherd():
    exe = os.environ.get("TETHERD")
    if not exe:
        guess = os.path.join(PYDIR, "..", "build", "server", "tetherd")
        exe = guess if os.access(guess, os.X_OK) else None
    if not exe:
        pytest.skip("TETHERD is not set (make check exports it)")
    return exe


def _pdeathsig():
    # like tether_start: a server whose starter dies goes with it
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class Server:
    def __init__(self, extra=()):
        self.dir = tempfile.mkdtemp(prefix="tpy.")
        self.path = os.path.join(self.dir, "s.sock")
        self.log = os.path.join(self.dir, "tetherd.log")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [_tetherd(), "--socket", self.path, "--ready-fd", str(w),
             "--log", self.log] + list(extra),
            pass_fds=(w,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        os.close(w)
        with os.fdopen(r) as f:
            line = f.readline()
        if not line.startswith("READY "):
            self.proc.kill()
            raise RuntimeError("tetherd did not start: %r" % line)
        self.pid = int(line.split()[1])

    def stop(self):
        if self.proc.poll() is None:
            try:
                with tether.Client(self.path, takeover=True) as c:
                    c.shutdown(force=True)
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


@pytest.fixture
def client(server):
    c = tether.Client(server.path)
    yield c
    c.close()


def run_py(code, *argv, timeout=30):
    """Run code in a fresh /usr/bin/python3 with the package on its path;
    its stdout."""
    env = dict(os.environ, PYTHONPATH=PYDIR)
    p = subprocess.run([sys.executable, "-c", code] + list(argv), env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, "python failed:\n" + p.stderr
    return p.stdout


def wait_for(pred, secs=10):
    """Poll pred until true (the server works on its own clock); False
    after secs."""
    end = time.monotonic() + secs
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return False
