"""Descriptors, labels, GC; workers; bulk data; remote memory."""
import errno
import os

import pytest

import tether


def _open_null(c):
    return c.call("openat", c.consts.AT_FDCWD, "/dev/null",
                  c.consts.O_RDONLY)


def test_labels_and_gc(client):
    a, b, k = _open_null(client), _open_null(client), _open_null(client)
    assert client.label(a, "db") == {"fd": a, "label": "db"}
    assert client.labels() == {"db": a}
    with pytest.raises(tether.Error) as e:
        client.label(b, "db")
    assert e.value.errno == errno.EEXIST
    dry = client.gc(keep=[k], dry_run=True)
    assert dry["dry_run"] and b in dry["closed"] and a not in dry["closed"]
    assert b in [f["fd"] for f in client.fds()]
    done = client.gc(keep=[k])
    assert b in done["closed"] and k not in done["closed"]
    held = [f["fd"] for f in client.fds()]
    assert a in held and k in held and b not in held
    assert client.unlabel("db") == {"fd": a, "label": "db"}
    with pytest.raises(tether.Error) as e:
        client.unlabel("db")
    assert e.value.errno == errno.ENOENT
    internal = [f for f in client.fds(internal=True) if f["internal"]]
    assert any(f.get("role") == "syscall socket" for f in internal)


def test_workers(client):
    w = client.spawn(["sh", "-c", "echo out; echo err >&2; exec sleep 1000"],
                     capture=True, label="w", env={"X": "1"})
    assert w["label"] == "w" and w["pid"] > 0
    (rec,) = [r for r in client.ps() if r["pid"] == w["pid"]]
    assert rec["state"] == "running" and "X=1" in rec["spec"]["env"]
    assert client.wait("w", 0)["timeout"]

    def logged():
        return client.read_logs("w")[0].count(b"\n") >= 2
    from conftest import wait_for
    assert wait_for(logged)
    data, end = client.read_logs("w")
    assert sorted(data.split()) == [b"err", b"out"] and end == len(data)
    with pytest.raises(tether.Error) as e:
        client.ack("w")
    assert e.value.errno == errno.EBUSY
    st = client.stop("w", 5000)
    assert st["state"] == "killed" and st["signal"] == 15
    new = client.respawn("w")
    assert new["respawned_from"] == w["pid"]
    assert client.kill(new["pid"], 9) == {"pid": new["pid"], "signal": 9}
    end = client.wait(new["pid"])
    assert end["state"] == "killed" and end["signal"] == 9
    assert client.ack(new["pid"]) == {"pid": new["pid"]}
    assert all(r["pid"] != new["pid"] for r in client.ps())


def test_spawn_errors(client):
    with pytest.raises(tether.Error) as e:
        client.spawn(["/nonexistent/prog"])
    assert e.value.errno == errno.ENOENT
    with pytest.raises(tether.Error) as e:
        client.wait("nobody")
    assert e.value.errno == errno.ESRCH


def test_logs_follow(client):
    client.spawn(["sh", "-c", "for i in 1 2 3; do echo $i; done"],
                 capture=True, label="f")
    got = b"".join(d for d, _ in client.logs("f", 0, follow=True))
    assert got == b"1\n2\n3\n"


def test_put_get(client, tmp_path):
    blob = os.urandom((5 << 20) + 123)      # several chunks
    done = client.put(str(tmp_path / "p"), blob, 0o600)
    assert done["bytes"] == len(blob)
    assert (tmp_path / "p").read_bytes() == blob
    assert os.stat(tmp_path / "p").st_mode & 0o777 == 0o600
    assert client.get(str(tmp_path / "p")) == blob
    with open(tmp_path / "copy", "wb") as f:
        assert client.get(str(tmp_path / "p"), f) == len(blob)
    assert (tmp_path / "copy").read_bytes() == blob
    with open(tmp_path / "copy", "rb") as f:
        client.put(str(tmp_path / "q"), f)
    assert (tmp_path / "q").read_bytes() == blob
    with pytest.raises(tether.Error) as e:
        client.get(str(tmp_path / "missing"))
    assert e.value.errno == errno.ENOENT
    # the connection goes on after an error
    assert client.call("getpid") == client.server_pid


def test_give_take(client, tmp_path):
    (tmp_path / "g").write_bytes(b"given")
    K = client.consts
    sfd = client.call("openat", K.AT_FDCWD, str(tmp_path / "g"), K.O_RDONLY)
    mine = client.give(sfd)
    try:
        assert os.read(mine, 10) == b"given"
    finally:
        os.close(mine)
    r, w = os.pipe()
    try:
        theirs = client.take(w, label="pipe-w")
        assert client.labels()["pipe-w"] == theirs
        assert client.call("write", theirs, b"via server", 10) == 10
        assert os.read(r, 20) == b"via server"
    finally:
        os.close(r)
        os.close(w)


def test_remote_memory(client):
    addr = client.mem_alloc(4096)
    client.mem_write(addr, b"hello")
    assert client.mem_read(addr, 5) == b"hello"
    assert [m["addr"] % (1 << 64) for m in client.mem_list()] == [addr]
    client.mem_free(addr)
    assert client.mem_list() == []


def test_transfers_without_xxhash(client, tmp_path, monkeypatch):
    # a machine without python3-xxhash: byte counts alone are compared
    from tether import wire
    monkeypatch.setattr(wire, "_xxhash", None)
    blob = os.urandom(100000)
    assert client.put(str(tmp_path / "n"), blob)["bytes"] == len(blob)
    assert client.get(str(tmp_path / "n")) == blob
    h = wire.Hasher()
    h.update(b"abc")
    with pytest.raises(tether.Error) as e:
        h.check({"bytes": 4, "xxh3": 0})
    assert e.value.errno == errno.EIO


@pytest.mark.skipif(not tether.HAVE_XXH3, reason="no python3-xxhash")
def test_xxh3_checked():
    from tether import wire
    h = wire.Hasher()
    h.update(b"hi\n")
    # tether-protocol(7)'s example: 0xb34d1a3ab2bece70, sent signed
    h.check({"bytes": 3, "xxh3": 0xb34d1a3ab2bece70 - (1 << 64)})
    with pytest.raises(tether.Error) as e:
        h.check({"bytes": 3, "xxh3": 1})
    assert e.value.errno == errno.EIO and "XXH3" in e.value.strerror


def test_put_of_a_failing_source(client, tmp_path):
    class Failing:
        n = 0

        def read(self, size):
            self.n += 1
            if self.n > 1:
                raise OSError(errno.EIO, "disk on fire")
            return b"x" * 1000
    with pytest.raises(OSError) as e:
        client.put(str(tmp_path / "never"), Failing())
    assert e.value.errno == errno.EIO and "fire" in str(e.value)
    assert os.listdir(tmp_path) == []
    assert client.call("getpid") == client.server_pid


def test_get_into_a_failing_sink(client, tmp_path):
    (tmp_path / "src").write_bytes(os.urandom(3 << 20))

    class Full:
        def write(self, data):
            raise OSError(errno.ENOSPC, "full")
    with pytest.raises(OSError) as e:
        client.get(str(tmp_path / "src"), Full())
    assert e.value.errno == errno.ENOSPC
    # the stream was drained: the connection is in step
    assert client.get(str(tmp_path / "src")) == \
        (tmp_path / "src").read_bytes()
