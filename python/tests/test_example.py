"""python/examples/supervisor.py, killed with SIGKILL and run again."""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

import tether
from conftest import PYDIR, _tetherd, wait_for

EXAMPLE = os.path.join(PYDIR, "examples", "supervisor.py")


def _run(sock, journal, *extra):
    env = dict(os.environ, TETHERD=_tetherd())
    return subprocess.Popen([sys.executable, EXAMPLE, "-s", sock,
                             "--delay", "0.05"] + list(extra) + [journal],
                            env=env, stdout=subprocess.PIPE, text=True)


def _lines(proc, until):
    out = []
    for line in proc.stdout:
        out.append(json.loads(line))
        if until(out[-1]):
            break
    return out


def test_supervisor_killed_and_recovered():
    d = tempfile.mkdtemp(prefix="tpy-sup.")
    sock, journal = os.path.join(d, "s.sock"), os.path.join(d, "journal")
    first = _run(sock, journal)
    try:
        a = _lines(first, lambda m: m["action"] == "round" and m["n"] == 2)
        acts = {m["action"]: m for m in a}
        assert "started" in acts and "opened" in acts and "spawned" in acts
        ticker = acts["spawned"]["pid"]
        first.send_signal(signal.SIGKILL)
        first.wait()
        second = _run(sock, journal, "--rounds", "2")
        b = [json.loads(line) for line in second.stdout]
        assert second.wait(30) == 0
        acts = {m["action"]: m for m in b}
        assert "started" not in acts and "opened" not in acts
        assert "spawned" not in acts
        assert acts["keep"] == {"action": "keep", "pid": ticker,
                                "label": "ticker"}
        assert acts["status"]["pid"] == a[0]["pid"]
        assert acts["status"]["arch"] == os.uname().machine
        with open(journal) as f:
            pids = {line.split()[1] for line in f}
        assert pids == {str(first.pid), str(second.pid)}
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        try:
            with tether.Client(sock, takeover=True) as c:
                srv = c.server_pid
                c.shutdown(force=True)
            wait_for(lambda: not os.path.exists("/proc/%d" % srv))
        except OSError:
            pass
        shutil.rmtree(d, ignore_errors=True)
