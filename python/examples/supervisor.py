#!/usr/bin/python3
"""A supervisor on tetherd that survives its own death.

    supervisor.py [-s SOCKET] [--rounds N] JOURNAL

First run: starts tetherd if none listens, opens JOURNAL through it
(labeled "journal"), and starts a worker labeled "ticker".  Then, every
round, it appends a line to the journal through the server and restarts
the worker if it died.  Kill it (kill -9) at any moment and run it again:
it attaches to the same tetherd, finds the journal fd by its label and
the worker by its, collects what finished while it was away, closes what
its dead self left unlabeled, and goes on.  Each step is one JSON line.
"""
import argparse
import errno
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                ".."))
import tether  # noqa: E402


def say(**kw):
    print(json.dumps(kw), flush=True)


def attach(path):
    """Our seat on the server: take it back from a dead self, or start a
    server when there is none."""
    try:
        # busy_wait: a killed predecessor may still count as attached
        # for a moment; a live one makes this fail (EBUSY)
        return tether.Client(path)
    except tether.Error as e:
        if e.errno != errno.ECONNREFUSED:
            raise
    c = tether.start(path)
    say(action="started", pid=c.server_pid)
    return c


def recover(c):
    """What the last run left: keep what is ours, clean up the rest."""
    st = c.status()
    say(action="status", pid=st["pid"], generation=st["generation"],
        arch=st.get("arch"))
    keep = []
    for w in c.ps():
        if w["state"] in ("running", "stopped", "stopping"):
            say(action="keep", pid=w["pid"], label=w["label"])
            keep += [f["server_fd"] for f in w["spec"]["fds"]]
        else:
            new = c.respawn(w["pid"]) if w["label"] else c.ack(w["pid"])
            say(action="respawn" if w["label"] else "ack", pid=w["pid"],
                now=new["pid"], exit_code=w["exit_code"],
                signal=w["signal"])
    for p in c.pending()["pending"]:
        if p["state"] != "running":
            rec = c.collect(p["id"], 0)
            say(action="collect", id=p["id"], ret=rec.get("ret"))
    closed = c.gc(keep)["closed"]
    say(action="gc", closed=closed)


def setup(c, journal):
    """The journal fd and the worker, unless a past run left them."""
    K = c.consts
    fd = c.labels().get("journal")
    if fd is None:
        fd = c.call("openat", K.AT_FDCWD, journal,
                    K.O_WRONLY | K.O_CREAT | K.O_APPEND | K.O_CLOEXEC, 0o644)
        c.label(fd, "journal")
        say(action="opened", fd=fd)
    if not [w for w in c.ps() if w["label"] == "ticker"]:
        w = c.spawn(["sh", "-c", "while :; do date +%s; sleep 1; done"],
                    label="ticker", capture=True)
        say(action="spawned", pid=w["pid"])
    return fd


def run(c, fd, rounds, delay):
    n = 0
    while rounds < 0 or n < rounds:
        line = "pid %d round %d\n" % (os.getpid(), n)
        c.call("write", fd, line.encode(), len(line))
        for w in c.ps():
            if w["label"] == "ticker" and w["state"] in ("exited", "killed"):
                say(action="respawn", pid=w["pid"],
                    now=c.respawn(w["pid"])["pid"])
        say(action="round", n=n)
        n += 1
        time.sleep(delay)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-s", "--socket", default=None)
    ap.add_argument("--rounds", type=int, default=-1)
    ap.add_argument("--delay", type=float, default=0.2)
    ap.add_argument("journal")
    a = ap.parse_args()
    c = attach(a.socket)
    recover(c)
    fd = setup(c, os.path.abspath(a.journal))
    run(c, fd, a.rounds, a.delay)
    c.close()


if __name__ == "__main__":
    main()
