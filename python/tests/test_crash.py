"""A Python controller killed with SIGKILL mid-request, and a new Python
process that attaches afterwards: nothing the server held is lost."""
import errno
import json
import os
import signal
import subprocess
import sys

import tether
from conftest import PYDIR, run_py, wait_for

CHILD = r'''
import json, struct, sys, tether
c = tether.Client(sys.argv[1])
K = c.consts
keep = c.call("openat", K.AT_FDCWD, "/dev/null", K.O_RDONLY)
c.label(keep, "keep")
loose = c.call("openat", K.AT_FDCWD, "/dev/zero", K.O_RDONLY)
w = c.spawn(["sh", "-c", "i=0; while :; do echo tick $i; i=$((i+1)); "
             "sleep 0.02; done"], capture=True, label="ticker",
            fds={3: loose})
print(json.dumps(dict(keep=keep, loose=loose, worker=w["pid"],
                      gen=c.generation)), flush=True)
# a request the server works on when we die: 60 s in the ring
c.call("nanosleep", tether.In(struct.pack("qq", 60, 0)), 0)
print("not reached", flush=True)
'''

RECOVER = r'''
import json, sys, tether
c = tether.Client(sys.argv[1])      # waits while the dead one is seen
ps = c.ps()
pend = c.pending()["pending"]
out = dict(gen=c.generation, labels=c.labels(),
           fds=[f["fd"] for f in c.fds()],
           workers={r["pid"]: r["state"] for r in ps},
           pending=[(e["nr"], e["state"], e["waited"], e["where"])
                    for e in pend],
           nanosleep=c.nr("nanosleep"))
# the parked request: cancel it, collect its result
(e,) = pend
c.cancel(e["id"])
out["collected"] = c.collect(e["id"])["ret"]
# GC as a recovering supervisor does: keep what live workers map
keep = [f["server_fd"] for r in ps if r["state"] == "running"
        for f in r["spec"]["fds"]]
out["gc_closed"] = c.gc(keep)["closed"]
out["log"] = c.read_logs("ticker")[1]
print(json.dumps(out))
'''


def _child(code, *argv):
    env = dict(os.environ, PYTHONPATH=PYDIR)
    return subprocess.Popen([sys.executable, "-c", code] + list(argv),
                            env=env, stdout=subprocess.PIPE, text=True)


def test_sigkill_mid_request_then_recover(server):
    child = _child(CHILD, server.path)
    try:
        info = json.loads(child.stdout.readline())
        with tether.Client(server.path, observe=True) as obs:
            nsl = obs.nr("nanosleep")

            def waiting():
                return [e for e in obs.pending()["pending"]
                        if e["nr"] == nsl and e["waited"]]
            assert wait_for(waiting), "the request never reached tetherd"
            log_before = obs.read_logs("ticker")[1]
            child.send_signal(signal.SIGKILL)
            assert child.wait(10) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    out = json.loads(run_py(RECOVER, server.path))
    assert out["gen"] == info["gen"] + 1
    assert out["labels"] == {"keep": info["keep"]}
    assert info["keep"] in out["fds"] and info["loose"] in out["fds"]
    assert out["workers"] == {str(info["worker"]): "running"}
    assert out["pending"] == [[out["nanosleep"], "running", False, "ring"]]
    assert out["collected"] == -errno.ECANCELED
    assert info["keep"] not in out["gc_closed"]
    assert info["loose"] not in out["gc_closed"]
    assert out["log"] > log_before      # the worker wrote on meanwhile


PUTTER = r'''
import sys, time, tether
class Source:
    n = 0
    def read(self, size):
        self.n += 1
        if self.n == 1:
            return b"x" * size
        print("mid", flush=True)
        time.sleep(60)
c = tether.Client(sys.argv[1])
c.put(sys.argv[2], Source())
'''


def test_sigkill_mid_put_leaves_no_file(server, tmp_path):
    target = tmp_path / "put"
    child = _child(PUTTER, server.path, str(target))
    try:
        assert child.stdout.readline() == "mid\n"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    with tether.Client(server.path) as c:
        assert c.status()["attached"]
        c.put(str(target), b"whole")
    assert target.read_bytes() == b"whole"
    assert os.listdir(tmp_path) == ["put"]


BLOCKED = r'''
import struct, sys, tether
c = tether.Client(sys.argv[1])
print("ready", flush=True)
try:
    c.call("nanosleep", tether.In(struct.pack("qq", 60, 0)), 0)
except tether.TakenOver as e:
    print("taken over", e.errno, e.pid, e.generation)
'''


def test_takeover_of_a_blocked_controller(server):
    child = _child(BLOCKED, server.path)
    try:
        assert child.stdout.readline() == "ready\n"
        with tether.Client(server.path, observe=True) as obs:
            nsl = obs.nr("nanosleep")
            assert wait_for(lambda: [e for e in obs.pending()["pending"]
                                     if e["nr"] == nsl and e["waited"]])
        c = tether.Client(server.path, takeover=True)
        line = child.stdout.readline().split()
        assert child.wait(10) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    assert line == ["taken", "over", str(errno.ECONNABORTED),
                    str(os.getpid()), str(c.generation)]
    # its request goes on, parked for us
    (e,) = c.pending()["pending"]
    assert not e["waited"]
    c.cancel(e["id"])
    assert c.collect(e["id"])["ret"] == -errno.ECANCELED
    c.close()


BATCHER = r'''
import struct, sys, tether
c = tether.Client(sys.argv[1])
print("ready", flush=True)
c.batch([("getpid",), ("nanosleep", struct.pack("qq", 60, 0), 0),
         ("getppid",)])
'''

COLLECT_BATCH = r'''
import json, sys, tether
c = tether.Client(sys.argv[1])
(e,) = c.pending()["pending"]
c.cancel(e["id"])
rec = c.collect(e["id"])
print(json.dumps(dict(entry=e, batch=rec["batch"])))
'''


def test_sigkill_mid_batch_then_collect(server):
    child = _child(BATCHER, server.path)
    try:
        assert child.stdout.readline() == "ready\n"
        with tether.Client(server.path, observe=True) as obs:
            assert wait_for(lambda: [e for e in obs.pending()["pending"]
                                     if e["batch"] and e["waited"]])
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
    out = json.loads(run_py(COLLECT_BATCH, server.path))
    assert out["entry"]["nr"] == -1 and not out["entry"]["waited"]
    b = out["batch"]
    assert b["results"][0][0] == server.pid
    assert b["results"][1][0] == -errno.ECANCELED
    assert b["stopped_at"] == 1 and b["completed"] == 2
