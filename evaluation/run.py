"""Score any Hugging Face causal-LM checkpoint on the study's benchmarks.

    python -m evaluation.run runs/train/.../checkpoint_000000           # the paper suite, a table
    python -m evaluation.run CKPT --tasks piqa,world_knowledge --limit 200 --format json --output r.json
    python -m evaluation.run $(python -m evaluation.reference) --limit 500  # a published model

Every multiple-choice task is scored in cloze form (accuracy, length-normalised where that is
the standard, gold-answer bits-per-byte, gold probability among the choices); knowledge by
0-shot exact match and the reference answer's bits-per-byte; code by the canonical
solution's bits-per-byte. Each task shows n, chance, a standard error and the floor: the same
items scored by a Glorot-random model of the checkpoint's architecture and tokenizer
(computed once, cached under $CODEMIX_CACHE/floors). `--limit N` scores a fixed, seeded
subset of N items per task: the same items on every run. Runs offline.

Any task of lm-eval's registry works too (`--tasks lambada_openai,mmlu_anatomy`), scored as
lm-eval defines it, with its data fetched by lm-eval's own loader (a cluster node with the
Hub); so do your own YAML tasks (`--include-path DIR --tasks my_task`). They are reported
under "other", outside the study's categories, with every numeric per-item metric.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from evaluation.report import summarise, table, to_json
from evaluation.sandbox import SandboxUnavailable, isolation
from evaluation.suites import BENCHMARKS, CATEGORIES, SUITES, resolve


def load_checkpoint(path: str):
    """Model and tokenizer of a causal-LM folder; a one-line ValueError for anything else."""
    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"checkpoint {path!r} is missing or is not a Hugging Face folder (no config.json)")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    try:
        config = AutoConfig.from_pretrained(folder)
    except (ValueError, OSError) as e:
        raise ValueError(f"checkpoint {path!r} has an unreadable config.json ({str(e).splitlines()[0]})") from None
    causal = set(MODEL_FOR_CAUSAL_LM_MAPPING_NAMES.values())
    heads = config.architectures or []  # what the weights were saved as, where the config says
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or (heads and not causal & set(heads)):
        raise ValueError(f"checkpoint {path!r} is a {'/'.join(heads) or config.model_type} model, "
                         "not a causal language model")
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (ValueError, OSError) as e:
        raise ValueError(f"checkpoint {path!r} has no usable tokenizer ({str(e).splitlines()[0]})") from None
    import torch
    try:
        return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32), tokenizer
    except OSError as e:
        raise ValueError(f"checkpoint {path!r} has no loadable weights ({str(e).splitlines()[0]})") from None


def evaluate_checkpoint(path: str, suite: str = "paper", tasks: str = "", limit: int | None = None,
                        floor: bool = True, batch_size: int = 32, say=print, include_path: str = "",
                        allow_code_execution: bool = False, code_limit: int | None = None) -> dict:
    from evaluation.floor import random_floor
    from evaluation.harness import score_items
    benchmarks = resolve(suite, tasks, include_path, allow_code_execution)
    model, tokenizer = load_checkpoint(path)
    what = f"{len(benchmarks)} tasks, " + (f"{limit} items each" if limit else "all items")
    lows = None
    if floor:
        say(f"[eval] random floor ({what}; computed once per architecture and tokenizer, then cached)")
        start = time.perf_counter()
        lows = random_floor(model.config, tokenizer, benchmarks, limit, quiet=True)
        say(f"[eval] floor ready in {time.perf_counter() - start:.1f} s")
    say(f"[eval] scoring {path} on {what}")
    start = time.perf_counter()
    report = summarise(score_items(model, tokenizer, benchmarks, limit, batch_size=batch_size,
                                   code_limit=code_limit or limit), lows)
    report["checkpoint"] = str(Path(path).expanduser().resolve())
    report["limit"] = limit or 0
    say(f"[eval] scored in {time.perf_counter() - start:.1f} s")
    return report


def _write(path: Path, text: str) -> None:
    """All or nothing: a failed run leaves no half-written output."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.rename(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="a Hugging Face causal-LM folder (config.json, weights, tokenizer)")
    parser.add_argument("--suite", default="paper", help=f"benchmark suite: {', '.join(SUITES)} (default paper)")
    parser.add_argument("--tasks", default="",
                        help=f"comma list of tasks ({', '.join(BENCHMARKS)}), categories ({', '.join(CATEGORIES)}) "
                             "or any lm-eval task name (scored as lm-eval defines it, its data fetched by its own "
                             "loader); default: the whole suite")
    parser.add_argument("--include-path", default="",
                        help="a folder of your own lm-eval YAML tasks, named in --tasks (as lm-eval's --include_path)")
    parser.add_argument("--limit", type=int, default=None,
                        help="score a fixed, seeded subset of N items per task (default: all items)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    parser.add_argument("--output", type=Path, help="write the output to this file instead of stdout")
    parser.add_argument("--no-floor", action="store_true", help="skip the Glorot-random floor")
    parser.add_argument("--allow-code-execution", action="store_true",
                        help="score HumanEval/MBPP pass@1: run the model's code in the sandbox (evaluation/sandbox.py)")
    parser.add_argument("--code-limit", type=int, default=None,
                        help="items per pass@1 task, a prefix of the --limit subset (default: as --limit)")
    parser.add_argument("--batch-size", type=int, default=32, help="requests per forward pass (default 32)")
    args = parser.parse_args(argv)
    try:
        if args.limit is not None and args.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {args.limit}")
        if args.batch_size < 1:
            raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
        resolve(args.suite, args.tasks, args.include_path)  # unknown names fail before any model is loaded
        if args.code_limit is not None and args.code_limit < 1:
            raise ValueError(f"--code-limit must be at least 1, got {args.code_limit}")
        if args.allow_code_execution:
            isolation()  # no sandbox here: one line, before any model is loaded
        if args.output and not args.output.parent.is_dir():
            raise ValueError(f"--output {str(args.output)!r}: folder {str(args.output.parent)!r} does not exist")
        def say(*a):
            print(*a, file=sys.stderr, flush=True)
        report = evaluate_checkpoint(args.checkpoint, args.suite, args.tasks, args.limit,
                                     floor=not args.no_floor, batch_size=args.batch_size, say=say,
                                     include_path=args.include_path, allow_code_execution=args.allow_code_execution,
                                     code_limit=args.code_limit)
    except (ValueError, SandboxUnavailable) as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    text = to_json(report) if args.format == "json" else table(report)
    if args.output:
        _write(args.output, text + "\n")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
