"""The whole study in one command: every experiment at a chosen scale, every claim beside the
paper's, and a verdict.

    python sweeps/study.py --scale laptop                       # about 2 hours on a 2-core laptop
    python sweeps/study.py --scale laptop --resume              # after a kill: nothing finished is trained again
    python sweeps/study.py --scale paper-470m --dry-run         # every experiment's trials, planned only
    python sweeps/study.py --scale smoke --experiments ratio,init,cooldown

Runs the study's experiments in turn as the sweep commands a user would type (each printed
before it starts): code ratio (§3.3, sweeps/ratio.py), initialisation (§3.1, sweeps/init.py),
model size (§3.2, sweeps/size.py), code quality (§3.4: each kind of code alone, and the
synthetic share, sweeps/synthetic.py), cooldown (§3.5) and the recipe (§3.6), all in one
`--storage`, each in its MLflow experiment `<experiment>-<name>`. Trials two experiments
would train alike are planned once (sweeps/study_plan.py says which), and trained stages are
shared by key between the initialisation, cooldown and recipe experiments.

Then one parent run `study-<scale>` in the MLflow experiment `--experiment` links each
experiment's sweep (params `run_<name>`), holds the report (`study.md`, `study.json`, the
plots) and the verdicts as its description, and the report is published to
`--publish`/study-<scale>.md (default docs/results). Each of the paper's claims
(shared/PAPER.md) is measured in the paper's form with a 95% interval over seeds on the
study's metrics and on bits-per-byte, with a verdict: agrees, disagrees, or inconclusive at
this scale (sweeps/study_claims.py).

The study's record is `<storage>/<experiment>.study.json`: `--resume` skips the experiments
that finished, resumes the one that was running (Tune's own resume: finished trials are not
trained again) and refuses a study whose configuration changed, saying what changed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.study_plan import EXPERIMENTS, ROOT, SCALES, SECTIONS, get_scale, parse_experiments, plan  # noqa: E402

JUDGE_FLAGS = ("--judge", "--judge-model", "--winrate-limit")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python sweeps/study.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", required=True, metavar="NAME",
                   help="; ".join(f"{n}: {s.about}" for n, s in SCALES.items()))
    p.add_argument("--experiments", default=",".join(EXPERIMENTS),
                   help=f"comma list of the study's experiments to run (default all: {', '.join(EXPERIMENTS)})")
    p.add_argument("--resume", action="store_true", help="go on with a stopped study: finished experiments are skipped")
    p.add_argument("--dry-run", action="store_true", help="print every experiment's trials and exit")
    p.add_argument("--seeds", type=int, default=None, help="seeds per experiment (default: the scale's)")
    p.add_argument("--storage", default="runs", help="local or mounted folder for every experiment (default runs)")
    p.add_argument("--experiment", default="codemix-study", help="the study's MLflow experiment and name prefix")
    p.add_argument("--publish", default=str(ROOT / "docs" / "results"), metavar="FOLDER",
                   help="where study-<scale>.md is written (default the checkout's docs/results)")
    p.add_argument("--allow-code-execution", action="store_true", help="score pass@1 by running generated code")
    p.add_argument("--eval-limit", type=int, default=None, help="items per benchmark (default: the preset's)")
    p.add_argument("--data", default=None, help="the sweeps' --data (default embedded)")
    p.add_argument("--judge", default="", help="judge URL or model folder: win-rates against the Text LM (§3.1)")
    p.add_argument("--judge-model", default="", help="the judge's model name at the URL")
    p.add_argument("--winrate-limit", type=int, default=None, help="prompts judged per variant")
    return p


def shared_flags(args) -> list[str]:
    flags = ["--storage", args.storage]
    if args.allow_code_execution:
        flags.append("--allow-code-execution")
    if args.eval_limit is not None:
        flags += ["--eval-limit", str(args.eval_limit)]
    if args.data:
        flags += ["--data", args.data]
    return flags


def judge_flags(args) -> list[str]:
    flags = []
    for flag in JUDGE_FLAGS:
        value = getattr(args, flag[2:].replace("-", "_"))
        if value not in ("", None):
            flags += [flag, str(value)]
    return flags if args.judge else []


def state_path(args) -> Path:
    return Path(args.storage).expanduser().resolve() / f"{args.experiment}.study.json"


def _flags(argv) -> dict:
    out, key = {}, None
    for a in argv:
        if a.startswith("--"):
            key = a
            out[key] = ""
        elif key:
            out[key] = a
    return out


def changed(old: dict, new: dict) -> str:
    """What differs between a stored study's configuration and this one, in a phrase."""
    if old["scale"] != new["scale"]:
        return f"--scale {new['scale']} was {old['scale']}"
    for name in dict.fromkeys([*old["steps"], *new["steps"]]):
        if name not in old["steps"] or name not in new["steps"]:
            return f"experiment {name} was {'not ' if name not in old['steps'] else ''}in the study"
        a, b = _flags(old["steps"][name]), _flags(new["steps"][name])
        for flag in dict.fromkeys([*a, *b]):
            if a.get(flag) != b.get(flag):
                return f"{name}: {flag} {b.get(flag, '(none)')} was {a.get(flag, '(none)')}".replace(" ''", "")
    return ""


def check(args):
    """Every refusal before anything runs; returns the plan and the stored state (or None)."""
    get_scale(args.scale)
    experiments = parse_experiments(args.experiments)
    if args.seeds is not None and args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    if "://" in args.storage:
        raise ValueError(f"--storage {args.storage}: the study shares trained stages between experiments in a folder: "
                         "give a local or mounted one")
    if not args.experiment or "/" in args.experiment:
        raise ValueError(f"--experiment {args.experiment!r} must be a non-empty name without '/'")
    steps = plan(args.scale, experiments, args.experiment, shared_flags(args), args.seeds, judge_flags(args))
    if not get_scale(args.scale).runs_here and not args.dry_run:
        raise ValueError(f"--scale {args.scale} trains on a GPU cluster: plan it here with --dry-run, run it there")
    config = {"scale": args.scale, "steps": {s.name: list(s.argv) for s in steps}}
    path = state_path(args)
    stored = json.loads(path.read_text()) if path.exists() else None
    if args.resume:
        if stored is None:
            raise ValueError(f"--resume: no study {args.experiment!r} stored under {args.storage}")
        if what := changed(stored["config"], config):
            raise ValueError(f"--resume: the study's configuration changed ({what}): run it again with what it had, "
                             "or start another with a new --experiment")
    elif stored is not None and not args.dry_run:
        raise ValueError(f"a study {args.experiment!r} is stored under {args.storage}: --resume it, or give another "
                         "--experiment")
    return steps, config, stored


def dry_run(steps) -> int:
    import re
    trials = 0
    for s in steps:
        print(f"\n## {s.name} ({SECTIONS[s.name]}): {s.command}" + (f"\n   reused: {s.reused}" if s.reused else ""),
              flush=True)
        done = subprocess.run([*s.run_argv(), "--dry-run"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        print(done.stdout, end="", flush=True)
        if done.returncode:
            return done.returncode
        trials += sum(int(n) for n in re.findall(r"^(\d+) trials", done.stdout, re.M))
    print(f"\n{len(steps)} experiments, {trials} trials, {sum(s.reuses for s in steps)} more reused between "
          "experiments; every check passed; nothing was trained (--dry-run)")
    return 0


def save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    tmp.replace(path)


def _wait(process: subprocess.Popen, state: dict, path: Path, tick: float = 30.0) -> int:
    """Wait for an experiment, adding the time to the study's wall time every `tick` seconds
    (a killed study keeps what it spent)."""
    last = time.time()
    while True:
        try:
            returncode = process.wait(timeout=tick)
        except subprocess.TimeoutExpired:
            returncode = None
        now = time.time()
        state["wall_s"] = state.get("wall_s", 0.0) + now - last
        last = now
        save(path, state)
        if returncode is not None:
            return returncode


def run_steps(args, steps, state, path) -> int:
    storage = Path(args.storage).expanduser().resolve()
    for s in steps:
        record = state["experiments"].setdefault(s.name, {"status": "pending"})
        if record["status"] == "done":
            print(f"[study] {s.name}: finished before (parent run {record['parent_run_id']}); skipped", flush=True)
            continue
        argv = s.run_argv()
        if (storage / f"{args.experiment}-{s.name}.sweep.json").exists():
            argv.append("--resume")  # started before: Tune's resume trains only what had not finished
        print(f"\n[study] {s.name} ({SECTIONS[s.name]}): {' '.join(['python', *argv[1:]])}", flush=True)
        record["status"] = "started"
        save(path, state)
        returncode = _wait(subprocess.Popen(argv, cwd=ROOT), state, path)
        if returncode:
            print(f"[study] {s.name} stopped (exit {returncode}); what finished is kept: fix what it says and "
                  "run again with --resume", flush=True)
            return returncode
        sweep = json.loads((storage / f"{args.experiment}-{s.name}.sweep.json").read_text())
        record.update(status="done", parent_run_id=sweep["parent_run_id"])
        save(path, state)
    return 0


def machine() -> str:
    gpu = "no GPU"
    try:
        import torch
        if torch.cuda.is_available():
            gpu = f"{torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{os.cpu_count()} CPU cores, {gpu}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min" if seconds >= 3600 else \
        f"{int(seconds // 60)} min {int(seconds % 60)} s"


def finish(args, steps, state, path, wall_s: float, command: str) -> dict:
    """Read each experiment's results, measure the claims, log and publish the report."""
    import mlflow
    import pandas as pd

    from sweeps.spec import default_tracking
    from sweeps.study_claims import claims
    from sweeps.study_report import build, description, write
    from sweeps.tracking import use_experiment
    storage = Path(args.storage).expanduser().resolve()
    uri = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking(storage)
    client = mlflow.MlflowClient(uri)
    frames, optima, trained = {}, {}, 0
    with tempfile.TemporaryDirectory() as tmp:
        for s in steps:
            run_id = state["experiments"][s.name]["parent_run_id"]
            folder = Path(tmp) / s.name
            folder.mkdir()
            csv = client.download_artifacts(run_id, "results.csv", str(folder))
            frames[s.name] = pd.read_csv(csv)
            trained += len(frames[s.name])
            if s.name == "ratio":
                optima = json.loads(Path(client.download_artifacts(run_id, "optimum.json", str(folder))).read_text())
    scale = get_scale(args.scale)
    from trainers.presets import get_preset
    own = get_preset(scale.preset).config.model_size
    rows = claims(frames, optima, own, scale.other_size)
    stages_reused = sum(int(f["stages_reused"].sum()) for f in frames.values() if "stages_reused" in f)
    about = {"scale": args.scale, "scale_about": scale.about, "command": command, "machine": machine(),
             "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "commit": commit(),
             "wall_time": _minutes(wall_s), "wall_s": wall_s, "own_size": own, "other_size": scale.other_size,
             "trials_trained": trained, "trials_reused": sum(s.reuses for s in steps),
             "stages_reused": stages_reused,
             "experiments": {s.name: state["experiments"][s.name]["parent_run_id"] for s in steps}}
    report = build(rows, frames, about)
    mlflow.set_tracking_uri(uri)
    experiment = use_experiment(args.experiment, storage, uri)
    with mlflow.start_run(run_id=state.get("study_run_id"), run_name=f"study-{args.scale}",
                          experiment_id=experiment.experiment_id) as run:
        state["study_run_id"] = run.info.run_id
        save(path, state)
        if not mlflow.get_run(run.info.run_id).data.params:
            mlflow.log_params({"scale": args.scale, **{f"run_{k}": v for k, v in about["experiments"].items()}})
        with tempfile.TemporaryDirectory() as tmp:
            write(report, Path(tmp))
            mlflow.log_artifacts(tmp)
        mlflow.set_tag("mlflow.note.content", description(report))
        for run_id in about["experiments"].values():
            client.set_tag(run_id, "study_run_id", run.info.run_id)
    published = Path(args.publish).expanduser().resolve()
    out = published / f"study-{args.scale}"
    write(dict(report), out)
    (published / f"study-{args.scale}.md").write_text((out / "study.md").read_text().replace("](", f"](study-{args.scale}/"))
    report["published"] = str(published / f"study-{args.scale}.md")
    report["study_run_id"] = run.info.run_id
    return report


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        steps, config, stored = check(args)
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    if args.dry_run:
        return dry_run(steps)
    for s in steps:  # every experiment's own checks (its flags, the data), before any of them trains
        done = subprocess.run([*s.run_argv(), "--dry-run"], cwd=ROOT, capture_output=True, text=True)
        if done.returncode:
            said = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            p.exit(2, f"{p.prog}: error: experiment {s.name}: {said}\n")
    path = state_path(args)
    state = stored or {"config": config, "experiments": {}, "wall_s": 0.0}
    command = " ".join(["python sweeps/study.py", *(argv if argv is not None else sys.argv[1:])])
    state.setdefault("command", command.replace(" --resume", ""))
    save(path, state)
    rc = run_steps(args, steps, state, path)
    if rc:
        return rc
    report = finish(args, steps, state, path, state["wall_s"], state["command"])
    print("\n[study] verdicts: " + "; ".join(f"{family}: " + ", ".join(f"{n} {v}" for v, n in c.items() if n)
                                             for family, c in report["tally"].items()))
    for r in report["claims"]:
        print(f"  {r['claim']} [{r['metric']}]: {r['verdict']}: {r['reason']}")
    print(f"\n[study] report: {report['published']}; MLflow parent run {report['study_run_id']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
