"""The shared flags of every sweep script and the frozen, checked spec they resolve to.

Raw argparse values stop here: `resolve(args)` checks every value before Ray starts and
returns a `SweepSpec`; a bad value raises `ValueError` with a one-line message naming it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

from evaluation.suites import CATEGORIES, HEADLINE, SUITES
from evaluation.suites import resolve as resolve_benchmarks
from sweeps import store
from trainers.presets import PRESETS, get_preset
from trainers.data.mixture import DEFAULT_CODE_MIX
from trainers.data.remote import STACK_LANGUAGES, remote_registry
from trainers.data.sources import Source
from trainers.data.prepare import PreparedData, prepare
from trainers.data.spec import embedded_spec, is_spec, is_store, load_spec, spec_from_dict
from trainers.sizes import SIZES
from trainers.config import ATTENTION, KERNELS, PRECISIONS, VAL_METRIC, TrainConfig

DEFAULT_STORAGE = "runs"  # under the current folder: `mlflow ui` there finds runs/mlflow.db


@dataclass(frozen=True)
class SweepSpec:
    experiment: str
    preset: str
    seeds: tuple[int, ...]
    search: str            # "grid" or "optuna"
    trials: int            # optuna: number of trials
    storage: Path | str    # Tune results, checkpoints, (for a folder) the MLflow store; str: an s3:// URI
    tracking_uri: str
    resume: bool
    dry_run: bool
    metric: str            # what Optuna optimises; the table reports every metric
    mode: str
    base: TrainConfig | None = None  # every trial's config before its point: the preset's, with the flags
    #                                  applied; None for a sweep that trains nothing (sweeps/planted.py)
    pareto: str = ""       # a second objective: the Pareto front of the two ("": none)
    asha: bool = False     # stop weak Optuna trials early (Tune's ASHA) on the metric tracked in training
    data: str = "embedded"  # or "remote": the study's Hugging Face datasets
    languages: tuple[str, ...] = STACK_LANGUAGES
    remote_documents: int = 0  # 0: every document
    verbose: bool = False  # Ray Tune's own status table and each trial's configuration, as well

    @property
    def objectives(self) -> tuple[str, ...]:
        return (self.metric, self.pareto) if self.pareto else (self.metric,)

    def registry(self) -> dict[str, Source]:
        """The sources, from a spec each: the embedded one, the study's remote one, or a user's."""
        if self.data == "embedded":
            return spec_from_dict(embedded_spec(), Path("embedded.yaml")).registry()
        if is_spec(self.data):  # a user's own corpora (trainers/data/spec.py)
            return load_spec(self.data).registry()
        return remote_registry(self.languages, max_documents=self.remote_documents)

    def prepared(self) -> PreparedData:
        """The data every trial reads: prepared here once (cached by content), or a published
        store's node copy."""
        if is_store(self.data):
            return PreparedData.open(self.data)
        return prepare(vocab_size=SIZES[self.base.model_size].vocab_size, registry=self.registry(),
                       tokenizer=self.tokenizer())

    def tokenizer(self) -> str:
        """A data spec's pretrained tokenizer (folder or hub id); "": a BPE trained on the data."""
        return load_spec(self.data).tokenizer if is_spec(self.data) else ""

    def train_config(self, **point) -> TrainConfig:
        """One trial's config: the base with the trial's point (and any other field) replaced."""
        return replace(self.base, **point)


def add_shared_flags(parser: argparse.ArgumentParser, experiment: str) -> None:
    parser.add_argument("--preset", default="demo", help=f"named defaults: {', '.join(PRESETS)} (default demo)")
    parser.add_argument("--size", help=f"model size, overrides the preset's: {', '.join(SIZES)}")
    parser.add_argument("--tokens", type=int, help="training tokens per trial, overrides the preset's")
    parser.add_argument("--seeds", type=int, default=None,
                        help="seeds per grid point, 0..N-1, the same at every point "
                             "(default: the preset's, 1 but for study)")
    parser.add_argument("--search", choices=("grid", "optuna"), default="grid",
                        help="grid: every point of the grid with every seed (replication); optuna: Optuna's TPE "
                             "over the axes' ranges, the metric measured during training as well as at the end")
    parser.add_argument("--trials", type=int, default=8, help="number of Optuna trials (default 8)")
    parser.add_argument("--asha", action="store_true",
                        help="with --search optuna: stop weak trials early (Tune's ASHA: rungs at 1/9 and 1/3 of "
                             "the budget), comparing trials on --metric measured on fixed held-out data during training")
    parser.add_argument("--metric", default="val_bpb_text",
                        help="the metric that picks the best point and that Optuna optimises: lower is better for "
                             "bits-per-byte (val_bpb_*, nl_reasoning_bpb, world_knowledge_bpb, code_bpb), higher for "
                             "scores (nl_reasoning, world_knowledge, ...); default val_bpb_text")
    parser.add_argument("--pareto", default="", metavar="METRIC",
                        help="a second objective, e.g. --metric nl_reasoning_bpb --pareto code_bpb: the parent run gets "
                             "the Pareto front of the two (points no other beats on both); with --search optuna, "
                             "Optuna optimises both (multi-objective TPE)")
    parser.add_argument("--eval-suite", default=None,
                        help=f"benchmarks scored at the end of every trial: {', '.join(SUITES)} or none "
                             "(default: the preset's, paper)")
    parser.add_argument("--eval-tasks", default=None,
                        help="comma list of benchmark tasks, categories or lm-eval task names (fetched by lm-eval's "
                             "own loader) instead of the whole suite")
    parser.add_argument("--allow-code-execution", action="store_true", default=None,
                        help="score HumanEval/MBPP pass@1 by running each trial's generated code in the code "
                             "sandbox (evaluation/sandbox.py); off by default: code_bpb only")
    parser.add_argument("--eval-code-limit", type=int, default=None,
                        help="items per pass@1 task, a prefix of the same subset (default: the preset's)")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="benchmark items per task, a fixed seeded subset shared by every trial "
                             "(default: the preset's; 0: every item)")
    parser.add_argument("--checkpoint-every", type=int, default=None,
                        help="steps between a trial's checkpoints, what a resumed trial restarts from "
                             "(default: the preset's; 0: only the final one)")
    parser.add_argument("--workers", type=int, default=None,
                        help="Ray Train workers per trial (default: the preset's). As many trials run at once as "
                             "the cluster's CPUs (or GPUs) hold: on 2 cores, --workers 1 runs two trials side by side")
    parser.add_argument("--micro-batch", type=int, default=None,
                        help="sequences per worker per forward pass, the gradients accumulated over a step's; the "
                             "global batch stays exact (default: the preset's; 0: a worker's whole share at once)")
    parser.add_argument("--precision", default=None, metavar="|".join(PRECISIONS[1:]),
                        help="compute precision: bf16 with fp32 master weights and optimizer state, or fp32 "
                             "(default auto: bf16 on GPUs, fp32 on CPU)")
    parser.add_argument("--activation-checkpointing", action="store_true", default=None,
                        help="recompute each block's activations in the backward pass: about a third more compute "
                             "for a fraction of the activation memory (default: the memory plan turns it on when "
                             "nothing fits without it)")
    parser.add_argument("--attention", default=None, metavar="|".join(ATTENTION),
                        help="transformers' attention implementation (default sdpa; flash_attention_2 needs flash-attn)")
    parser.add_argument("--compile", action="store_true", default=None,
                        help="torch.compile each transformer block (a compile of about a minute per trial on GPUs)")
    parser.add_argument("--loss-kernel", default=None, metavar="|".join(KERNELS[1:]),
                        help="the loss without the full logits: chunked, or liger-kernel's fused linear + "
                             "cross-entropy on GPUs; full materialises them (default auto: fused where it can)")
    parser.add_argument("--gpu-memory", type=float, default=None, metavar="GiB",
                        help="memory per GPU that each trial's plan must fit (default: the preset's, 80); "
                             "--dry-run prints the plan")
    parser.add_argument("--resume", action="store_true",
                        help="continue the sweep stored under --storage/--experiment: finished trials are kept")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved trials and exit")
    parser.add_argument("--verbose", action="store_true",
                        help="print Ray Tune's status table and each trial's configuration too (default: one line "
                             "per trial started and finished, and a progress line a minute)")
    parser.add_argument("--storage", default=DEFAULT_STORAGE,
                        help="folder for Tune results and checkpoints; the MLflow store defaults to "
                             "sqlite:///STORAGE/mlflow.db unless MLFLOW_TRACKING_URI is set (default ./runs)")
    parser.add_argument("--experiment", default=experiment,
                        help=f"MLflow experiment and Tune run name (default {experiment})")
    parser.add_argument("--synthetic-share", type=float, default=None,
                        help="share of the code budget that is synthetic, verified Python (default 0)")
    parser.add_argument("--code-mix", default=None,
                        help=f"how the non-synthetic code budget splits over code families (default {DEFAULT_CODE_MIX})")
    parser.add_argument("--text-mix", default=None,
                        help="how the text budget splits over the text tiers (encyclopedic, news, speeches, "
                             "literature), e.g. encyclopedic:0.5,news:0.5; default: every text source by its size")
    parser.add_argument("--init-checkpoint", default="",
                        help="start every trial from this Hugging Face checkpoint (same size and tokenizer); "
                             "default: Glorot-normal from scratch")
    parser.add_argument("--no-repeat", action="store_true",
                        help="refuse a budget that would repeat any source (default: repeat, and log epochs per source)")
    parser.add_argument("--data", default="embedded", metavar="embedded|remote|SPEC.yaml|STORE",
                        help="embedded: built offline on this machine; remote: the study's Hugging Face datasets, "
                             "every file, read through the hub's filesystem ($CODEMIX_HUB: a mirror of them; "
                             "`python -m trainers.data.remote` prints this spec to edit); SPEC.yaml: your own corpora "
                             "(the format: README, 'Your own data'); STORE: a store published by "
                             "`trainers.data.prepare --output` (s3://... or a shared folder), copied to each node as read")
    parser.add_argument("--languages", default=",".join(STACK_LANGUAGES),
                        help="The Stack languages for --data remote (default: the 25 largest)")
    parser.add_argument("--remote-documents", type=int, default=0,
                        help="at most this many documents per remote source, for a quick look (default 0: all)")


# Flags that replace a field of the preset's config when given (flag attribute -> field).
CONFIG_FLAGS = {"size": "model_size", "tokens": "tokens", "synthetic_share": "synthetic_share",
                "code_mix": "code_mix", "text_mix": "text_mix", "eval_suite": "eval_suite", "eval_tasks": "eval_tasks",
                "eval_limit": "eval_limit", "allow_code_execution": "allow_code_execution",
                "eval_code_limit": "eval_code_limit", "checkpoint_every": "checkpoint_every", "workers": "num_workers",
                "micro_batch": "micro_batch", "precision": "precision",
                "activation_checkpointing": "activation_checkpointing", "attention": "attention", "compile": "compile",
                "loss_kernel": "loss_kernel", "gpu_memory": "gpu_memory"}


def base_config(args: argparse.Namespace) -> TrainConfig:
    """The preset's config with every flag given applied, built once (and so checked)."""
    preset = get_preset(args.preset)
    if args.size is not None and args.size not in SIZES:
        raise ValueError(f"unknown model size {args.size!r}; known sizes: {', '.join(SIZES)}")
    if args.tokens is not None and args.tokens <= 0:
        raise ValueError(f"--tokens must be positive, got {args.tokens}")
    if args.gpu_memory is not None and not args.gpu_memory > 0:
        raise ValueError(f"--gpu-memory must be a positive number of GiB, got {args.gpu_memory:g}")
    if args.workers is not None and args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    given = {field: getattr(args, flag) for flag, field in CONFIG_FLAGS.items() if getattr(args, flag) is not None}
    workers = given.get("num_workers", preset.config.num_workers)
    share = preset.config.global_batch // workers if preset.config.global_batch % workers == 0 else 0
    if preset.config.micro_batch and args.micro_batch is None and share:
        given["micro_batch"] = math.gcd(preset.config.micro_batch, share)  # the preset's, or what still splits a share
    if args.no_repeat:
        given["allow_repeat"] = False
    if args.init_checkpoint:
        given["init_checkpoint"] = str(Path(args.init_checkpoint).expanduser().resolve())
    return replace(preset.config, **given)


def resolve(args: argparse.Namespace) -> SweepSpec:
    preset = get_preset(args.preset)
    base = base_config(args)  # the code mix, synthetic share and budget are checked here
    seeds = preset.seeds if args.seeds is None else args.seeds
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if args.asha and args.search != "optuna":
        raise ValueError("--asha stops trials early, which a grid (kept for replication) cannot use: "
                         "add --search optuna")
    if args.search == "optuna" and args.trials < max(3, seeds):
        raise ValueError(f"--trials {args.trials} is too few for --search optuna: at least 3, and at least --seeds "
                         f"({seeds}), so every seed is tried")
    if not args.experiment or "/" in args.experiment:
        raise ValueError(f"--experiment {args.experiment!r} must be a non-empty name without '/'")
    storage = store.writable(args.storage)
    if args.resume and not store.exists(store.join(storage, f"{args.experiment}.sweep.json")):
        raise ValueError(f"--resume: no sweep {args.experiment!r} stored under {storage}")
    tracking = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking(storage)
    check_tracking(tracking)
    if args.data not in ("embedded", "remote") and not is_spec(args.data) and not is_store(args.data):
        raise ValueError(f"--data {args.data!r}: choose embedded, remote, a data spec (a .yaml file) or a published "
                         "store (s3://... or a folder with a manifest.json)")
    if is_store(args.data):
        published = PreparedData.open(args.data)  # one line if there is none: nothing starts
        vocab, have = SIZES[base.model_size].vocab_size, json.loads(published.manifest.read_text())["vocab_size"]
        if have > vocab:
            raise ValueError(f"--data {args.data}: its tokenizer has {have:,} tokens but size {base.model_size}'s "
                             f"embedding holds {vocab:,}")
    if is_spec(args.data):
        data_spec = load_spec(args.data)
        args.data = str(data_spec.path)
        vocab = SIZES[base.model_size].vocab_size
        if data_spec.tokenizer and data_spec.vocab_size > vocab:
            raise ValueError(f"--data {Path(args.data).name}: tokenizer {data_spec.tokenizer} has "
                             f"{data_spec.vocab_size:,} tokens but size {base.model_size}'s embedding holds {vocab:,}")
        if not data_spec.tokenizer and data_spec.vocab_size and data_spec.vocab_size != vocab:
            raise ValueError(f"--data {Path(args.data).name}: its tokenizer has {data_spec.vocab_size} tokens but size "
                             f"{base.model_size} is built for {vocab}")
    if args.remote_documents < 0:
        raise ValueError(f"--remote-documents must be 0 (all) or more, got {args.remote_documents}")
    check_metric(args.metric, base.eval_suite, base.eval_tasks, base.allow_code_execution)
    mode = metric_mode(args.metric)
    if args.pareto:
        check_metric(args.pareto, base.eval_suite, base.eval_tasks, base.allow_code_execution)
        if args.pareto == args.metric:
            raise ValueError(f"--pareto {args.pareto} is --metric itself: name a second objective")
        if args.asha:
            raise ValueError("--asha compares trials on one metric, and --pareto asks for two: drop one of them")
    spec = SweepSpec(
        experiment=args.experiment, preset=args.preset, base=base, seeds=tuple(range(seeds)),
        search=args.search, trials=args.trials, asha=args.asha, storage=storage, tracking_uri=tracking,
        resume=args.resume, dry_run=args.dry_run, metric=args.metric, mode=mode, pareto=args.pareto,
        data=args.data, languages=tuple(lang.strip() for lang in args.languages.split(",") if lang.strip()),
        remote_documents=args.remote_documents, verbose=args.verbose)
    if not is_spec(spec.data) and not is_store(spec.data):
        spec.registry()  # unknown languages fail here, before anything starts (a data spec was checked above)
    return spec


TRACKING_TIMEOUT_S = 5.0


def default_tracking(storage) -> str:
    """The sqlite MLflow store beside a folder storage; a URI storage (s3://) has none."""
    if store.is_uri(storage):
        raise ValueError(f"--storage {storage} is not a folder, so it holds no sqlite MLflow store: set "
                         "MLFLOW_TRACKING_URI (the cluster's MLflow server, e.g. http://127.0.0.1:5000)")
    return f"sqlite:///{storage / 'mlflow.db'}"


def check_tracking(uri: str, timeout: float = TRACKING_TIMEOUT_S) -> None:
    """A tracking server must answer before anything starts (MLflow's own client would retry
    for minutes). An http(s) URI is asked for the server's /health page."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            if response.status == 200:
                return
            why = f"HTTP {response.status}"
    except urllib.error.HTTPError as e:
        why = f"HTTP {e.code}"
    except (urllib.error.URLError, OSError) as e:
        why = str(getattr(e, "reason", e))
    raise ValueError(f"MLflow tracking server {uri} does not answer ({why}): start it, or unset "
                     "MLFLOW_TRACKING_URI to use the sqlite store under --storage")


def check_metric(metric: str, eval_suite: str, eval_tasks: str = "", allow_code_execution: bool = False) -> None:
    """The metric that picks the optimum must be one that every trial reports: a held-out
    bits-per-byte, or a score of a category or task that this sweep's benchmarks include."""
    if metric in VAL_METRIC.values():
        return
    chosen = [] if eval_suite == "none" else resolve_benchmarks(eval_suite, eval_tasks,
                                                                allow_code_execution=allow_code_execution)
    categories = {b.category for b in chosen}
    scores = sorted({f"{c}_{m}" for c in categories & set(CATEGORIES) for m in ("bpb", "prob", "prob_norm")}
                    | {HEADLINE[c] for c in categories & set(CATEGORIES) if c != "code"}
                    | ({HEADLINE["code"]} if any(b.executes for b in chosen) else set()))
    if metric in scores or any(metric.startswith(f"{b.name}_") for b in chosen):
        return  # a category's score, or a task's own, e.g. piqa_acc_norm or lambada_openai_acc
    why = (" (benchmarks are off: --eval-suite none)" if eval_suite == "none" else
           " (code_pass1 needs --allow-code-execution)" if metric == HEADLINE["code"] else
           " (no trial of this sweep reports it: its benchmarks do not include it)")
    raise ValueError(f"unknown --metric {metric!r}{why}; choose from {', '.join([*VAL_METRIC.values(), *scores])} "
                     "or a task's score such as piqa_acc_norm")


def metric_mode(metric: str) -> str:
    """Bits-per-byte and losses are better lower; accuracies and probabilities higher."""
    return "min" if metric.startswith(("val_bpb", "val_loss")) or metric.endswith("_bpb") else "max"
