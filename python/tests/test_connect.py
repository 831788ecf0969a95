"""Attaching: the handshake, its refusals, observers, take-over."""
import errno
import os

import pytest

import tether
from tether import handshake
from conftest import run_py


def test_connect_status_arch(server, client):
    st = client.status()
    assert st["pid"] == server.pid
    assert st["arch"] == os.uname().machine
    assert client.info["arch"] == st["arch"]
    if st["arch"] == "x86_64":
        assert st["audit_arch"] == 0xC000003E
    assert client.arch_reported
    assert st["attached"] and st["controller_pid"] == os.getpid()
    assert client.call("getpid") == server.pid


def test_default_path_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("TETHER_SOCKET", "/x/y.sock")
    assert tether.default_socket_path() == "/x/y.sock"
    monkeypatch.delenv("TETHER_SOCKET")
    monkeypatch.setenv("XDG_RUNTIME_DIR", "/run/xdg")
    assert tether.default_socket_path() == "/run/xdg/tether/tetherd.sock"
    monkeypatch.setenv("XDG_RUNTIME_DIR", "relative")
    from tether.paths import default_socket_path
    uid = os.getuid()
    (tmp_path / str(uid)).mkdir()
    assert default_socket_path(str(tmp_path), "/tmp") == \
        "%s/%d/tether/tetherd.sock" % (tmp_path, uid)
    assert default_socket_path(str(tmp_path / "none"), "/tmp") == \
        "/tmp/tether-%d/tetherd.sock" % uid


def test_default_path_connects(server, monkeypatch):
    monkeypatch.setenv("TETHER_SOCKET", server.path)
    with tether.Client(None) as c:
        assert c.status()["socket"] == server.path


def test_no_server(tmp_path):
    with pytest.raises(OSError) as e:
        tether.Client(str(tmp_path / "none.sock"))
    assert e.value.errno == errno.ECONNREFUSED


def test_stopped_server_times_the_handshake_out(server, client,
                                               monkeypatch):
    # a stopped tetherd takes the connection into its backlog and never
    # answers: ETIMEDOUT after TETHER_CONNECT_TIMEOUT, as in libtether
    import signal
    monkeypatch.setenv("TETHER_CONNECT_TIMEOUT", "1")
    os.kill(server.pid, signal.SIGSTOP)
    try:
        with pytest.raises(OSError) as e:
            tether.Client(server.path, observe=True)
        assert e.value.errno == errno.ETIMEDOUT
        assert "did not answer the handshake in 1 s" in str(e.value)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert client.call("getpid") == server.pid


def test_untrusted_directory_refused(server, tmp_path):
    # a world-writable directory without the sticky bit on the way: the
    # socket could be anyone's
    d = tmp_path / "open"
    d.mkdir()
    os.chmod(d, 0o777)
    os.symlink(server.path, d / "s.sock")
    with pytest.raises(OSError) as e:
        tether.Client(str(d / "s.sock"))
    assert e.value.errno == errno.EACCES
    assert "world-writable" in e.value.strerror


def test_second_controller_busy(server, client):
    with pytest.raises(tether.Error) as e:
        tether.Client(server.path, busy_wait=0.1)
    assert e.value.errno == errno.EBUSY
    assert e.value.cause == "conflict"


def test_observer(server, client):
    with tether.Client(server.path, observe=True) as o:
        assert o.observer
        assert o.status()["observer"]
        with pytest.raises(tether.Error) as e:
            o.call("getpid")
        assert e.value.errno == errno.EBUSY and e.value.cause == "role"


def test_probe(server, client):
    st = tether.Client.probe(server.path)
    assert st["attached"] and st["controller_pid"] == os.getpid()
    assert st["generation"] == client.generation


def test_takeover_notice(server, client):
    fd = client.call("openat", client.consts.AT_FDCWD, "/dev/null",
                     client.consts.O_RDONLY)
    # another process takes the seat; our next request learns it
    out = run_py("import tether,sys\n"
                 "c = tether.Client(sys.argv[1], takeover=True)\n"
                 "print(c.generation)\n", server.path)
    with pytest.raises(tether.TakenOver) as e:
        client.call("getpid")
    assert e.value.errno == errno.ECONNABORTED
    assert e.value.generation == int(out)
    assert e.value.pid not in (None, os.getpid())
    with pytest.raises(tether.Disconnected):
        client.status()
    # and we can come back: the fd is still there
    client.reconnect()
    assert fd in [f["fd"] for f in client.fds()]


def test_takeover_stale_generation(server, client):
    gen = client.generation
    tether.Client(server.path, takeover=True).close()
    with pytest.raises(tether.Error) as e:
        tether.Client(server.path, takeover=True, generation=gen)
    assert e.value.errno == errno.EBUSY


def test_reconnect_right_after_close(server):
    # closing and attaching at once races with the server reading our
    # end: the client waits until it has
    c = tether.Client(server.path)
    for _ in range(20):
        c.reconnect()
    assert c.status()["attached"]
    c.close()


def test_handshake_answer_fits(server):
    st, _, _ = handshake.hello(server.path, handshake.PROBE)
    assert len(tether.wire.frame([1, 0, st])) <= tether.wire.HANDSHAKE_MAX


def test_no_sigpipe_when_taken_over(server):
    # with SIGPIPE's default action, a write to the closed connection
    # would kill the process: MSG_NOSIGNAL makes it EPIPE, and the notice
    # is read after it
    out = run_py(
        "import signal, sys, tether\n"
        "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
        "c = tether.Client(sys.argv[1])\n"
        "n = tether.Client(sys.argv[1], takeover=True)\n"
        "try:\n"
        "    c.call('getpid')\n"
        "except tether.TakenOver as e:\n"
        "    print(e.generation == n.generation)\n", server.path)
    assert out == "True\n"


@pytest.mark.parametrize("kind", ["stream", "seqpacket"])
def test_socket_activated(tmp_path, kind):
    # systemd-socket-activate makes a stream socket unless told
    # --seqpacket; tetherd takes either, and so does the client
    import shutil
    import subprocess
    import time
    from conftest import _pdeathsig, _tetherd
    if not shutil.which("systemd-socket-activate"):
        pytest.skip("systemd-socket-activate is not installed "
                    "(Debian package systemd)")
    path = str(tmp_path / "s.sock")
    argv = ["systemd-socket-activate", "-l", path, _tetherd()]
    if kind == "seqpacket":
        argv[1:1] = ["--seqpacket"]
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    try:
        # It binds, then listens: the path can be there a moment
        # before a connect is accepted (ECONNREFUSED until then).
        end = time.monotonic() + 5
        while True:
            try:
                client = tether.Client(path)
                break
            except OSError as e:
                if e.errno not in (errno.ENOENT, errno.ECONNREFUSED) or \
                        time.monotonic() > end:
                    raise
                time.sleep(0.01)
        with client as c:
            assert c.status()["pid"] == proc.pid
            assert c.call("getpid") == proc.pid
            c.shutdown()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
