"""The code sandbox against hostile programs, run for real (as root on CI): each is contained,
scored as a failure, and the host is left as it was; benign programs still pass."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path


from evaluation.sandbox import UID_BASE, UID_SPAN, run_programs

ROOT = Path(__file__).resolve().parents[1]


def _sandbox_processes() -> list[int]:
    """Host processes running as a sandbox uid."""
    pids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue
        if UID_BASE <= uid < UID_BASE + 1000 * UID_SPAN:
            pids.append(int(status.parent.name))
    return pids


def run(source: str, **kw) -> dict:
    return run_programs([textwrap.dedent(source)], **kw)[0]


def test_benign_programs_pass():
    """A sandbox that fails everything is not a sandbox."""
    r = run_programs([
        "open('notes.txt', 'w').write('x' * 1000); assert open('notes.txt').read() == 'x' * 1000",
        "block = bytearray(50 * 2**20); block[-1] = 1; print(sum(block))",
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass\nprint('done')",
        "import json, math, re, collections, itertools, heapq; print(math.factorial(20))",
    ], timeout=10)
    assert [x["status"] for x in r] == ["passed"] * 4, r
    assert r[1]["stdout"].strip() == "1" and r[3]["stdout"].strip() == "2432902008176640000"


def test_an_endless_loop_times_out_quickly():
    start = time.perf_counter()
    r = run("while True:\n    pass", timeout=2)
    assert r["status"] == "timeout" and time.perf_counter() - start < 8


def test_a_fork_bomb_is_contained_and_leaves_nothing_running():
    r = run("""
        import os
        while True:
            try:
                os.fork()
            except OSError:
                pass
    """, timeout=3)
    assert r["status"] in ("timeout", "failed")
    assert _sandbox_processes() == []


def test_a_huge_allocation_is_refused():
    r = run("block = bytearray(20 * 2**30)", memory_mb=256)
    assert r["status"] == "memory", r


def test_writes_outside_its_folder_fail_and_reach_nothing(tmp_path):
    targets = [ROOT / ".sandbox-escape", Path("/root/.sandbox-escape"), Path("/etc/sandbox-escape"),
               Path("/var/tmp/sandbox-escape"), tmp_path / "escape"]
    r = run(f"""
        import sys
        written = []
        for path in {[str(t) for t in targets]!r}:
            try:
                open(path, "w").write("escaped")
                written.append(path)
            except OSError:
                pass
        print(written)
        sys.exit(1 if written else 0)
    """)
    assert not any(t.exists() for t in targets)
    # /tmp inside is the sandbox's own tmpfs: a write there lands in it, never on the host.
    assert r["stdout"].strip() in ("[]", repr([str(tmp_path / "escape")])), r


def test_the_environment_and_the_hosts_processes_are_out_of_sight(monkeypatch):
    secret = "codemix-sandbox-secret-77d1"
    monkeypatch.setenv("CODEMIX_TEST_SECRET", secret)
    r = run(f"""
        import os, sys
        seen = [v for v in os.environ.values() if {secret!r} in v]
        try:
            seen.append(open("/proc/{os.getpid()}/environ").read())
        except OSError:
            pass
        sys.exit(0 if any({secret!r} in s for s in seen) else 1)
    """)
    assert r["status"] == "failed" and secret not in r["stdout"] + r["stderr"]


def test_no_socket_reaches_a_listener_on_the_host():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(6)
    port = listener.getsockname()[1]
    got = []
    thread = threading.Thread(target=lambda: got.append(_accept(listener)))
    thread.start()
    r = run(f"""
        import socket
        socket.create_connection(("127.0.0.1", {port}), timeout=2).sendall(b"hello")
    """)
    thread.join()
    listener.close()
    assert r["status"] == "failed" and got == [None]
    assert "Network is unreachable" in r["stderr"] or "refused" in r["stderr"], r["stderr"]


def _accept(listener):
    try:
        return listener.accept()
    except TimeoutError:
        return None


def test_a_child_that_tries_to_outlive_the_sandbox_is_gone_when_it_returns():
    start = time.perf_counter()
    r = run("""
        import os, subprocess, time
        subprocess.Popen(["sleep", "60"], start_new_session=True)
        if os.fork() == 0:          # a double-forked daemon
            os.setsid()
            if os.fork() == 0:
                time.sleep(60)
            os._exit(0)
        print("left them running")
    """)
    assert r["status"] == "passed" and time.perf_counter() - start < 10
    assert _sandbox_processes() == []


def test_filling_the_disk_fails_inside_the_sandbox():
    r = run("""
        with open("fill", "wb") as f:
            for _ in range(2048):
                f.write(b"0" * 2**20)
    """, disk_mb=32)
    assert r["status"] == "failed", r


def test_programs_of_one_batch_cannot_touch_each_other():
    first, second = run_programs([
        "import os; open('mine', 'w').write('1'); print(os.getcwd(), os.getuid())",
        "import os\ntry:\n    print(open('/tmp/p0/mine').read())\nexcept OSError as e:\n    print('denied', e.errno)",
    ])
    assert first["status"] == second["status"] == "passed"
    assert second["stdout"].startswith("denied") or second["stdout"].strip() == "", second


def test_the_command_prints_one_json_line_and_exits_0_only_on_pass(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text("print(6 * 7)")
    bad.write_text("raise SystemExit(3)")
    for path, code, status in ((good, 0, "passed"), (bad, 1, "failed")):
        done = subprocess.run([sys.executable, "-m", "evaluation.sandbox", str(path), "--timeout", "5"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == code and json.loads(done.stdout)["status"] == status
    missing = subprocess.run([sys.executable, "-m", "evaluation.sandbox", str(tmp_path / "nope.py")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1 and "nope.py" in missing.stderr
