"""Run untrusted Python (model-written code, generated tests) so that it cannot hurt the host.

    python -m evaluation.sandbox PROGRAM.py [--timeout S] [--memory-mb M]   # one JSON line

    from evaluation.sandbox import run_programs
    results = run_programs([source_a, source_b], timeout=10)   # [{"status": "passed", ...}, ...]

One sandbox serves a batch of programs. It is a process in fresh Linux namespaces
(`unshare`): its own network (no interface but a loopback that is down: no socket leaves
it), its own process tree (when it ends, the kernel kills every process it started), its
own mounts (every filesystem of the host read-only, a size-limited tmpfs as /tmp and
/dev/shm: the only writable place, gone when it ends). Inside, each program runs in a fresh
interpreter (`python -I -S`) with an empty environment, in its own folder under /tmp, as
its own unprivileged user id when the caller is root (so it cannot signal, read or outlive
the others), with limits on CPU seconds, address space, processes, file size and open
files, and a wall-clock deadline after which all its processes are killed.

Root is the hard case (CI runs as root): root inside the namespaces drops to an unused
uid before any program runs. An unprivileged caller gets the same namespaces through a user
namespace. Where neither is possible the sandbox refuses with one line (SandboxUnavailable)
rather than run anything unconfined.

Status of a program: `passed` (exit 0), `failed` (non-zero exit or an uncaught error),
`timeout` (wall deadline or CPU limit), `memory` (MemoryError or the address-space limit),
`error` (the sandbox could not run it).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TIMEOUT_S = 10.0
MEMORY_MB = 512
DISK_MB = 64          # the sandbox's /tmp, for the whole batch
FILE_MB = 16          # largest file a program may write
PROCESSES = 32        # processes (threads count too) per program
UID_BASE = 61000      # programs run as uids from here up when the caller is root (no account needed)
UID_SPAN = 10_000     # uids per batch: concurrent batches (threads, processes) use disjoint ranges
TAIL = 2000           # characters of stdout/stderr kept per program

# Inside the namespaces, as (namespace) root: hold the Python installation on a fresh
# /dev/shm (root-only), give /tmp a fresh size-limited tmpfs, hide the home folders (keys,
# tokens) behind empty tmpfs, give the Python installation back at its own path where that
# was hidden (its libpython is found by an absolute path), make every host mount read-only,
# check that the host is now unwritable, then run the runner with that same Python (a
# virtual environment in the caller's folder may be hidden: the runner needs only the stdlib).
# Arguments: /tmp size in MB, a host folder to probe, the Python prefix, then the command.
_SETUP = r"""
set -eu
mount --make-rprivate /
mount -t tmpfs -o size=1m,mode=0755 codemix-shm /dev/shm
mkdir /dev/shm/python && mount --bind "$3" /dev/shm/python
mount -t tmpfs -o "size=$1m,mode=1777" codemix-sandbox /tmp
for h in /root /home; do
  [ -d "$h" ] && mount -t tmpfs -o size=1m,mode=0755 codemix-home "$h"
done
case "$3" in /root/*|/home/*|/tmp/*) mkdir -p "$3" && mount --bind /dev/shm/python "$3" ;; esac
for m in $(awk '{print $5}' /proc/self/mountinfo | sort -u); do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/pts|/dev/mqueue|/tmp) continue ;; esac
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
for d in / /root "$2" "$3"; do
  if touch "$d/.codemix-sandbox-probe" 2>/dev/null; then
    rm -f "$d/.codemix-sandbox-probe"; echo "sandbox: $d stays writable inside the sandbox" >&2; exit 97
  fi
done
shift 3
exec "$@"
"""

# The runner (namespace pid 1's child): reads programs as JSON lines, runs each, answers a
# JSON line per program. Parameters: python, timeout, memory bytes, file bytes, processes,
# uid base (0: do not change user), uids in the batch's range.
_RUNNER = r"""
import json, os, resource, select, shutil, signal, sys, time
python, timeout, memory, fsize, nproc, uid_base, uid_span = sys.argv[1], float(sys.argv[2]), *map(int, sys.argv[3:])
TAIL = 2000
def limits(uid):
    os.setsid()
    for res, value in ((resource.RLIMIT_CPU, max(1, int(timeout + 1))), (resource.RLIMIT_AS, memory),
                       (resource.RLIMIT_FSIZE, fsize), (resource.RLIMIT_NOFILE, 64), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))
    if uid:
        os.setgroups([])
        os.setgid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))  # counted per uid: this program alone
        os.setuid(uid)
def kill_all(uid, pgid):
    if uid:  # every process of this program's uid, wherever it went
        killer = os.fork()
        if killer == 0:
            try:
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(killer, 0)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
for i, line in enumerate(sys.stdin):
    source = json.loads(line)
    uid = uid_base + i % uid_span if uid_base else 0
    home = f"/tmp/p{i}"
    os.mkdir(home, 0o700)
    with open(f"{home}/main.py", "w") as f:
        f.write(source)
    if uid:
        for p in (home, f"{home}/main.py"):
            os.chown(p, uid, uid)
    out = os.open(f"/tmp/out{i}", os.O_WRONLY | os.O_CREAT, 0o600)
    err = os.open(f"/tmp/err{i}", os.O_WRONLY | os.O_CREAT, 0o600)
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out, 1)
            os.dup2(err, 2)
            os.chdir(home)
            limits(uid)
            os.execve(python, [python, "-I", "-S", "main.py"], {"PATH": "/usr/bin:/bin", "HOME": home, "LC_ALL": "C.UTF-8"})
        finally:
            os._exit(125)
    os.close(out)
    os.close(err)
    fd = os.pidfd_open(pid)
    timed_out = not select.select([fd], [], [], timeout)[0]
    if timed_out:
        kill_all(uid, pid)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    kill_all(uid, pid)  # what it left running
    seconds = time.monotonic() - start
    tails = []
    for name in (f"/tmp/out{i}", f"/tmp/err{i}"):
        with open(name, "rb") as f:
            f.seek(max(0, os.path.getsize(name) - TAIL))
            tails.append(f.read().decode("utf-8", "replace"))
        os.remove(name)
    shutil.rmtree(home, ignore_errors=True)
    code = os.waitstatus_to_exitcode(status)
    sys.stdout.write(json.dumps({"returncode": code, "timed_out": timed_out, "seconds": round(seconds, 4),
                                 "stdout": tails[0], "stderr": tails[1]}) + "\n")
    sys.stdout.flush()
"""


class SandboxUnavailable(RuntimeError):
    """This machine cannot confine a program; the message is one line."""


def _unshare(user_namespace: bool) -> list[str]:
    return ["unshare", *(["--user", "--map-root-user"] if user_namespace else []),
            "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", "--mount-proc"]


@functools.lru_cache(maxsize=1)
def isolation() -> tuple[list[str], int]:
    """(the unshare command, the uid base) that works here; SandboxUnavailable otherwise."""
    if not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("mount"):
        raise SandboxUnavailable("the code sandbox needs Linux with util-linux's unshare and mount; "
                                 "refusing to run code unconfined")
    root = os.geteuid() == 0
    tried = []
    for user_ns in ((False, True) if root else (True,)):
        cmd = _unshare(user_ns)
        done = subprocess.run([*cmd, "sh", "-c", _SETUP, "sandbox", "1", str(Path.cwd()), sys.base_prefix, "true"],
                              capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return cmd, (UID_BASE if root and not user_ns else 0)
        tried.append((done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1])
    raise SandboxUnavailable(f"cannot create the sandbox's namespaces here ({tried[-1]}); "
                             "refusing to run code unconfined")


def _status(r: dict) -> str:
    code, err = r["returncode"], r["stderr"]
    if r["timed_out"] or code == -24:  # the wall deadline, or SIGXCPU: the CPU-seconds limit
        return "timeout"
    if code == 0:
        return "passed"
    if "MemoryError" in err or "Cannot allocate memory" in err:
        return "memory"
    return "failed"


def run_programs(programs: list[str], timeout: float = TIMEOUT_S, memory_mb: int = MEMORY_MB,
                 disk_mb: int = DISK_MB) -> list[dict]:
    """Run each program (Python source) in the sandbox; one result dict per program, in order:
    status, returncode, seconds, stdout and stderr (their last 2,000 characters)."""
    if not programs:
        return []
    cmd, uid_base = isolation()
    if uid_base:  # a range of its own: process limits count per uid across the whole machine
        uid_base += UID_SPAN * (int.from_bytes(os.urandom(2), "little") % 1000)
    python = str(Path(sys.base_prefix) / Path(sys._base_executable).relative_to(sys.base_prefix))
    runner = [python, "-I", "-S", "-c", _RUNNER, python, str(timeout), str(memory_mb << 20),
              str(FILE_MB << 20), str(PROCESSES), str(uid_base), str(UID_SPAN)]
    budget = (timeout + 2) * len(programs) + 60
    try:
        done = subprocess.run([*cmd, "sh", "-c", _SETUP, "sandbox", str(disk_mb), str(Path.cwd()), sys.base_prefix,
                               *runner],
                              input="".join(json.dumps(p) + "\n" for p in programs), capture_output=True,
                              text=True, timeout=budget, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, cwd="/")
    except subprocess.TimeoutExpired:  # unshare --kill-child takes the whole namespace with it
        done = None
    lines = done.stdout.splitlines() if done else []
    if done is not None and not lines and done.returncode != 0:  # the sandbox itself failed: no verdicts
        raise SandboxUnavailable("the sandbox failed to start: "
                                 + (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][-300:])
    results = []
    for i in range(len(programs)):
        if i < len(lines):
            r = json.loads(lines[i])
            r["status"] = _status(r)
            results.append({k: r[k] for k in ("status", "returncode", "seconds", "stdout", "stderr")})
        else:
            why = (done.stderr.strip().splitlines() or ["the sandbox stopped"])[-1] if done else "batch deadline"
            results.append({"status": "error", "returncode": None, "seconds": 0.0, "stdout": "", "stderr": why})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.sandbox", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("program", type=Path, help="a Python file to run confined")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_S, help=f"wall-clock seconds (default {TIMEOUT_S:g})")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB, help=f"address space in MB (default {MEMORY_MB})")
    args = parser.parse_args(argv)
    try:
        if not args.program.is_file():
            raise ValueError(f"program {str(args.program)!r} is not a file")
        if args.timeout <= 0 or args.memory_mb < 64:
            raise ValueError("--timeout must be positive and --memory-mb at least 64")
        source = args.program.read_text(encoding="utf-8", errors="replace")
        start = time.perf_counter()
        result = run_programs([source], args.timeout, args.memory_mb)[0]
    except (ValueError, SandboxUnavailable) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    result["wall_s"] = round(time.perf_counter() - start, 3)
    print(json.dumps(result))
    return 0 if result["status"] == "passed" else 1


if __name__ == "__main__":
    sys.exit(main())
