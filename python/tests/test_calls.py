"""System calls: typed buffers, errors, batches, asynchronous calls."""
import errno
import os
import struct

import pytest

import tether
from tether import DataIn, DataOut, In, InOut, Out, Ref


def test_openat_read(client, tmp_path):
    K = client.consts
    p = tmp_path / "f"
    p.write_bytes(b"myhost\n")
    fd = client.call("openat", K.AT_FDCWD, str(p), K.O_RDONLY)
    buf = Out(64)
    assert client.call("read", fd, buf, 64) == 7
    assert buf.value == b"myhost\n"          # trimmed to the result
    buf = Out(16)
    r = client.syscall("pread64", fd, buf, 16, 0, flags=tether.NOTRIM)
    assert r.ret == 7 and buf.value == b"myhost\n" + bytes(9)
    assert client.call("close", fd) == 0


def test_errno(client):
    K = client.consts
    with pytest.raises(OSError) as e:
        client.call("openat", K.AT_FDCWD, "/nonexistent/x", K.O_RDONLY)
    assert e.value.errno == errno.ENOENT
    assert isinstance(e.value, tether.SyscallError)
    r = client.syscall("close", 12345)
    assert r.ret == -errno.EBADF and r.errno == errno.EBADF


def test_numbers_and_names(client):
    assert client.call(client.nr("getpid")) == client.server_pid
    with pytest.raises(OSError) as e:
        client.call("no_such_call")
    assert e.value.errno == errno.ENOSYS


def test_request_errors(client):
    # a refused request is an OSError too, with the server's text
    with pytest.raises(tether.Error) as e:
        client.call("read", 0)
    assert e.value.errno == errno.EINVAL and "arguments" in e.value.strerror
    with pytest.raises(tether.Error) as e:
        client.call("getpid", "a\0b")
    assert e.value.errno == errno.EINVAL
    with pytest.raises(tether.Error) as e:
        client.call("exit_group", 0)
    assert e.value.errno == errno.EPERM


def test_inout_and_in(client):
    K = client.consts
    fds = Out(8)
    assert client.call("pipe2", fds, K.O_CLOEXEC) == 0
    r, w = struct.unpack("ii", fds.value)
    assert client.call("write", w, b"ping", 4) == 4
    assert client.call("write", w, In(b"pong"), 4) == 4
    # poll of one pollfd through the ring: revents in the InOut
    pfd = InOut(struct.pack("ihh", r, 1, 0))
    assert client.call("poll", pfd, 1, 1000) == 1
    assert struct.unpack("ihh", pfd.value)[2] & 1
    buf = Out(8)
    assert client.call("read", r, buf, 8) == 8 and buf.value == b"pingpong"
    client.call("close", r)
    client.call("close", w)


def test_data_socket_buffers(client, tmp_path):
    K = client.consts
    big = os.urandom(3 << 20)               # over a frame: data socket
    fd = client.call("openat", K.AT_FDCWD, str(tmp_path / "big"),
                     K.O_RDWR | K.O_CREAT, 0o600)
    assert client.call("write", fd, DataIn(big), len(big)) == len(big)
    out = DataOut(len(big))
    assert client.call("pread64", fd, out, len(big), 0) == len(big)
    assert out.value == big
    assert (tmp_path / "big").read_bytes() == big


def test_batch(client, tmp_path):
    K = client.consts
    (tmp_path / "f").write_bytes(b"batch!")
    buf = Out(32)
    res = client.batch([("openat", K.AT_FDCWD, str(tmp_path / "f"),
                         K.O_RDONLY),
                        ("read", Ref(0), buf, 32),
                        ("close", Ref(0))])
    assert [r.ret for r in res][1:] == [6, 0]
    assert buf.value == b"batch!" and res.stopped_at == -1
    assert res.completed == 3
    res = client.batch([("close", 9999), ("getpid",)], stop=True)
    assert res[0].errno == errno.EBADF and res.stopped_at == 0
    assert res[1].ret == -errno.ECANCELED


def test_submit_reap(client):
    K = client.consts
    r = Out(8)
    assert client.call("pipe2", r, K.O_CLOEXEC) == 0
    rfd, wfd = struct.unpack("ii", r.value)
    buf = Out(16)
    ids = client.submit([("read", rfd, buf, 16), ("getpid",),
                         ("close", 9999)])
    assert len(ids) == 3 and client.submitted() == 3
    # the read waits on the empty pipe; the other two complete
    got = dict(client.reap(min=2))
    assert set(got) == set(ids[1:])
    assert got[ids[1]].ret == client.server_pid
    assert got[ids[2]].errno == errno.EBADF
    assert client.reap(wait_ms=0) == [] and client.submitted() == 1
    assert client.call("write", wfd, In(b"reaped"), 6) == 6
    [(cid, res)] = client.reap()
    assert cid == ids[0] and res.ret == 6 and buf.value == b"reaped"
    assert client.submitted() == 0
    with pytest.raises(tether.Error) as e:
        client.submit([("getpid",), ("dup", Ref(0))])
    assert e.value.errno == errno.EINVAL
    for fd in (rfd, wfd):
        client.call("close", fd)


def test_async_pending_collect_cancel(client):
    ts = struct.pack("qq", 30, 0)
    a = client.call_async("nanosleep", In(ts), 0)
    assert a.async_id and a.state == "running"
    p = client.pending()["pending"]
    assert [e["id"] for e in p] == [a.async_id]
    with pytest.raises(tether.Error) as e:
        client.collect(a.async_id, 0)
    assert e.value.errno == errno.EAGAIN
    assert client.cancel(a.async_id)["cancelled"]
    rec = client.collect(a.async_id)
    assert rec["result"].ret == -errno.ECANCELED
    # a call that runs directly ignores ASYNC
    r = client.call_async("getpid")
    assert r.async_id is None and r.ret == client.server_pid


def test_pipelined_replies_by_id(client):
    # two requests out, the slow one first: replies matched by id
    ts = struct.pack("qq", 0, 200 * 1000 * 1000)
    slow = client.send(tether.OPS["SYSCALL"],
                       [client.nr("nanosleep"), [ts, 0]])
    fast = client.send(tether.OPS["SYSCALL"], [client.nr("getpid"), []])
    assert client.reply(fast)[0] == client.server_pid
    assert client.reply(slow)[0] == 0


def test_timeout(client):
    ts = struct.pack("qq", 30, 0)
    r = client.syscall("nanosleep", In(ts), 0, timeout_ms=50)
    assert r.errno == errno.ETIMEDOUT and r.cause == "timeout"


def test_collect_names_the_call(client):
    a = client.call_async("nanosleep", In(struct.pack("qq", 0, 1000)), 0)
    rec = client.collect(a.async_id)
    assert rec["result"].name == "nanosleep" and rec["result"].ret == 0
    assert client.name_of(client.nr("getpid")) == "getpid"


def test_reply_timeout_then_the_reply(client):
    ts = struct.pack("qq", 0, 300 * 1000 * 1000)
    rid = client.send(tether.OPS["SYSCALL"],
                      [client.nr("nanosleep"), [ts, 0]])
    with pytest.raises(tether.Error) as e:
        client.reply(rid, timeout=0.01)
    assert e.value.errno == errno.ETIMEDOUT and e.value.cause == "timeout"
    # the request went on; its reply still comes, in step
    assert client.reply(rid)[0] == 0
    client.timeout = 5
    assert client.call("getpid") == client.server_pid
