"""Synthetic code: Python functions with docstrings and tests, kept only if they pass.

    python -m trainers.data.synthetic --n 20 --seed 0     # print a few kept programs

Each task family has a specification (a Python callable giving the intended answer) and
candidate implementations, some of them subtly wrong (off-by-one, wrong operator, a loop
that never ends), as a sampler of real programs would produce. Test cases are computed
from the specification; every candidate program (function + tests) runs in the
project's code sandbox (evaluation/sandbox.py: no network, read-only host, its own process
tree, CPU-time, memory and wall-clock limits) and is kept only if its tests pass. Kept
programs are deduplicated. The run is a pure function of the seed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from common.fetch import SourceUnavailable

MEMORY_BYTES = 256 * 2**20
WALL_SECONDS = 0.5     # the tests run in microseconds (plus ~20 ms to start Python); endless loops are cut here


@dataclass(frozen=True)
class Task:
    name: str
    doc: str
    args: str                    # signature of the function
    spec: callable               # the intended behaviour, used to compute expected outputs
    bodies: tuple[str, ...]      # candidate bodies; the first is correct
    inputs: callable             # rng -> tuple of arguments


def _ints(rng, n=6):
    return [rng.randint(-20, 50) for _ in range(rng.randint(0, n))]


TASKS = (
    Task("sum_of_multiples", "Return the sum of all positive integers below n divisible by {k}.", "n",
         lambda n, k: sum(i for i in range(1, n) if i % k == 0),
         ("return sum(i for i in range(1, n) if i % {k} == 0)",
          "return sum(i for i in range(1, n + 1) if i % {k} == 0)",
          "total, i = 0, {k}\n    while i < n:\n        total += i\n    return total"),
         lambda rng: (rng.randint(1, 60),)),
    Task("count_char", "Count how many times the character {c!r} occurs in text.", "text",
         lambda text, c: text.count(c),
         ("return sum(1 for ch in text if ch == {c!r})",
          "return len([ch for ch in text[1:] if ch == {c!r}])"),
         lambda rng: ("".join(rng.choice("abcab xyz") for _ in range(rng.randint(0, 12))),)),
    Task("clamp_all", "Clamp every number of values into the range [{lo}, {hi}].", "values",
         lambda values, lo, hi: [min(max(v, lo), hi) for v in values],
         ("return [min(max(v, {lo}), {hi}) for v in values]",
          "return [max(min(v, {lo}), {hi}) for v in values]"),
         lambda rng: (_ints(rng),)),
    Task("running_max", "Return the running maximum of values, offset by {k}.", "values",
         lambda values, k: [max(values[:i + 1]) + k for i in range(len(values))],
         ("out, best = [], None\n    for v in values:\n        best = v if best is None else max(best, v)\n"
          "        out.append(best + {k})\n    return out",
          "out, best = [], 0\n    for v in values:\n        best = max(best, v)\n"
          "        out.append(best + {k})\n    return out"),
         lambda rng: (_ints(rng),)),
    Task("scale_evens", "Multiply the even numbers of values by {k} and drop the odd ones.", "values",
         lambda values, k: [v * k for v in values if v % 2 == 0],
         ("return [v * {k} for v in values if v % 2 == 0]",
          "return [v * {k} for v in values if v % 2]"),
         lambda rng: (_ints(rng),)),
    Task("caesar", "Shift every lowercase letter of text by {k} places, wrapping around z.", "text",
         lambda text, k: "".join(chr((ord(ch) - 97 + k) % 26 + 97) if ch.islower() else ch for ch in text),
         ("return ''.join(chr((ord(ch) - 97 + {k}) % 26 + 97) if ch.islower() else ch for ch in text)",
          "return ''.join(chr(ord(ch) + {k}) if ch.islower() else ch for ch in text)"),
         lambda rng: ("".join(rng.choice("xyzab cq!") for _ in range(rng.randint(0, 10))),)),
    Task("digit_sum_power", "Return the sum of the digits of n, each raised to the power {k}.", "n",
         lambda n, k: sum(int(d) ** k for d in str(abs(n))),
         ("return sum(int(d) ** {k} for d in str(abs(n)))",
          "return sum(int(d) * {k} for d in str(abs(n)))",
          "total = 0\n    while n:\n        total += (n % 10) ** {k}\n        n //= 10\n    return total"),
         lambda rng: (rng.randint(-999, 9999),)),
    Task("window_sums", "Return the sums of every window of {k} consecutive values.", "values",
         lambda values, k: [sum(values[i:i + k]) for i in range(len(values) - k + 1)],
         ("return [sum(values[i:i + {k}]) for i in range(len(values) - {k} + 1)]",
          "return [sum(values[i:i + {k}]) for i in range(len(values) - {k})]"),
         lambda rng: (_ints(rng, 9),)),
)

PARAMS = {"k": lambda rng: rng.randint(2, 7), "lo": lambda rng: rng.randint(-5, 5),
          "hi": lambda rng: rng.randint(6, 30), "c": lambda rng: rng.choice("abxyz ")}


def candidate(rng: random.Random, index: int) -> str:
    """One candidate program: a function with a docstring, then its tests."""
    task = rng.choice(TASKS)
    params = {k: f(rng) for k, f in PARAMS.items()}
    spec_params = {k: v for k, v in params.items() if f"{{{k}" in task.doc}
    # Four in five candidates take the correct body, as a decent sampler would.
    body = task.bodies[0] if rng.random() < 0.8 else rng.choice(task.bodies[1:])
    name = f"{task.name}_{index}"
    cases = []
    for _ in range(4):
        args = task.inputs(rng)
        cases.append(f"    assert {name}({', '.join(map(repr, args))}) == {task.spec(*args, **spec_params)!r}")
    return (f"def {name}({task.args}):\n    \"\"\"{task.doc.format(**params)}\"\"\"\n"
            f"    {body.format(**params)}\n\n\ndef test_{name}():\n" + "\n".join(cases)
            + f"\n\n\ntest_{name}()\n")


def run_sandboxed(programs: list[str]) -> list[bool]:
    """For each program: True if it exits cleanly within the limits, run in the project's one
    code sandbox (evaluation/sandbox.py); SourceUnavailable where this machine has none."""
    from evaluation.sandbox import SandboxUnavailable, run_programs
    try:
        results = run_programs(programs, timeout=WALL_SECONDS, memory_mb=MEMORY_BYTES >> 20)
    except SandboxUnavailable as e:
        raise SourceUnavailable(f"synthetic_python: {e}") from None
    return [r["status"] == "passed" for r in results]


@dataclass(frozen=True)
class SynthesisReport:
    programs: tuple[str, ...]
    candidates: int
    failed: int
    duplicates: int

    @property
    def rejected_share(self) -> float:
        return (self.failed + self.duplicates) / max(1, self.candidates)


def synthesize(n: int, seed: int = 0, workers: int | None = None) -> SynthesisReport:
    """Generate n candidates, run each in the sandbox, keep the passing, unique ones."""
    rng = random.Random(seed)
    candidates = [candidate(rng, i) for i in range(n)]
    n_runners = workers or max(2, os.cpu_count() or 2)
    chunks = [candidates[i::n_runners] for i in range(n_runners)]
    with ThreadPoolExecutor(n_runners) as pool:
        verdicts = list(pool.map(run_sandboxed, chunks))
    passed = [None] * n
    for r, chunk_verdicts in enumerate(verdicts):
        passed[r::n_runners] = chunk_verdicts
    kept, seen, dups = [], set(), 0
    for program, ok in zip(candidates, passed, strict=True):
        if not ok:
            continue
        # Duplicates differ only in the function's index: compare without it.
        key = hashlib.sha1(program.replace(program.split("(")[0][4:], "f").encode()).hexdigest()
        if key in seen:
            dups += 1
            continue
        seen.add(key)
        kept.append(program)
    return SynthesisReport(tuple(kept), n, passed.count(False), dups)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=20, help="candidate programs to generate")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    report = synthesize(args.n, args.seed)
    for program in report.programs[:3]:
        print(program)
    print(f"{args.n} candidates: {len(report.programs)} kept, {report.failed} failed their tests "
          f"or limits, {report.duplicates} duplicates ({report.rejected_share:.1%} rejected)")


if __name__ == "__main__":
    main()
