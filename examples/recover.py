#!/usr/bin/env python3
"""recover.py: a supervisor died; take its tetherd back and put its state
in order without guessing.  The same recovery loop as recover.sh
(tetherctl(1), RECOVERY), in Python: every decision is made from what
the server says through `tetherctl --json`; nothing is remembered from
before the crash, and no msgpack library is needed.

    python3 examples/recover.py [-n] [--restart on-failure|always|never]
                                [--results FILE] SOCKET

stdout gets one JSON line per action.  Exit: 0 recovered, 1 an action
failed, 2 usage, 3 no server at SOCKET.  TETHERCTL names the binary.
"""
import argparse
import json
import os
import subprocess
import sys

CTL = os.environ.get("TETHERCTL", "tetherctl")


class Tether:
    """tetherctl --json on one socket: every answer parsed, every failure
    kept as tetherctl's exit status and its JSON error object."""

    def __init__(self, sock):
        self.sock = sock

    def __call__(self, *args):
        p = subprocess.run([CTL, "--json", "-s", self.sock, *args],
                           stdout=subprocess.PIPE, text=True)
        out = p.stdout.strip()
        try:
            doc = json.loads(out) if out else None
        except json.JSONDecodeError:
            # one JSON document per line (a batch's entries, say)
            doc = [json.loads(line) for line in out.splitlines()]
        return p.returncode, doc


def restart_wanted(policy, w):
    if policy == "always":
        return True
    if policy == "never":
        return False
    return w["state"] == "killed" or w.get("exit_code") not in (0, None)


def main():
    ap = argparse.ArgumentParser(prog="recover.py")
    ap.add_argument("-n", "--dry-run", action="store_true")
    ap.add_argument("--restart", default="on-failure",
                    choices=("on-failure", "always", "never"))
    ap.add_argument("--results", default=None)
    ap.add_argument("socket")
    try:
        a = ap.parse_args()
    except SystemExit:
        return 2
    tc = Tether(a.socket)
    failed = False

    def act(d):
        print(json.dumps(d, ensure_ascii=False), flush=True)

    def run(action, *args):
        nonlocal failed
        if a.dry_run:
            act({**action, "dry_run": True})
            return
        st, doc = tc(*args)
        if st == 0:
            act({**action, "ok": True, "result": doc})
        else:
            act({**action, "ok": False, "exit": st, "result": doc})
            failed = True

    # 1. status
    st, status = tc("status")
    if st != 0:
        if st == 3:
            print(f"recover.py: no tetherd at {a.socket}", file=sys.stderr)
        return st
    act({"action": "status", "pid": status["pid"],
         "generation": status["generation"]})

    # 2. workers: keep the live ones, report or restart the dead ones
    st, ps = tc("ps")
    if st != 0:
        return st
    for w in ps:
        who = {k: w.get(k) for k in ("pid", "label", "state")}
        if w["state"] in ("running", "stopping"):
            act({"action": "keep", **who})
            continue
        end = {**who, "exit_code": w.get("exit_code"),
               "signal": w.get("signal")}
        if restart_wanted(a.restart, w):
            run({"action": "respawn", **end}, "respawn",
                w["label"] or str(w["pid"]))
        else:
            act({"action": "ended", **end})

    # 3. parked requests: collect the finished ones
    st, pending = tc("pending")
    if st != 0:
        return st
    results = open(a.results, "a") if a.results else None
    for r in pending:
        if r["state"] != "done":
            act({"action": "still-running", "id": r["id"],
                 "syscall": r["syscall"], "since": r["since"]})
            continue
        if a.dry_run:
            act({"action": "collect", "id": r["id"], "dry_run": True})
            continue
        st, doc = tc("collect", "--no-wait", str(r["id"]))
        act({"action": "collect", "id": r["id"], "ok": st == 0,
             "result": doc})
        if st != 0:
            failed = True
        elif results:
            results.write(json.dumps(doc, ensure_ascii=False) + "\n")
    if results:
        results.close()

    # 4. fds: gc keeps labeled ones; keep what workers' fd maps name too
    st, ps = tc("ps")
    if st != 0:
        return st
    keep = sorted({m["server_fd"] for w in ps for m in w.get("fds", [])})
    args = ["gc"] + (["--keep", ",".join(map(str, keep))] if keep else [])
    if a.dry_run:
        st, doc = tc(*args, "--dry-run")
        act({"action": "gc", "dry_run": True, "result": doc})
        failed |= st != 0
    else:
        run({"action": "gc"}, *args)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
