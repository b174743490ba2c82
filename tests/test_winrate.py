"""Win-rate: the judging protocol (both orders, ties, interval, length control, position bias)
and the whole command against a real model that the command serves on 127.0.0.1 itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluation.winrate import pair_score, parse_verdict, summarise

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evaluation.winrate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)


def test_verdicts_are_parsed_and_a_disagreement_is_a_tie():
    assert [parse_verdict(t) for t in ("Both fine. [[B]]", "[[C]]", "A is better.", "no idea")] == ["B", "C", "A", "?"]
    assert pair_score("A", "B") == 1.0 and pair_score("B", "A") == 0.0
    assert pair_score("A", "A") == pair_score("C", "B") == pair_score("?", "A") == 0.5


def test_a_judge_that_always_names_one_position_is_labelled_non_informative():
    verdicts = [("A", "A")] * 10
    r = summarise([pair_score(*v) for v in verdicts], verdicts, ["x" * 10] * 10, ["y" * 12] * 10)
    assert r["win_rate"] == 0.5 and r["ties"] == 10 and not r["informative"]
    assert "100%" in r["why_not_informative"] and r["judge_said_A"] == 1.0


def test_a_judge_that_never_agrees_with_itself_is_labelled_non_informative():
    verdicts = [("A", "A"), ("B", "B"), ("?", "A"), ("B", "?")]
    r = summarise([pair_score(*v) for v in verdicts], verdicts, ["a"] * 4, ["b"] * 4)
    assert r["win_rate"] == 0.5 and not r["informative"] and "never agreed" in r["why_not_informative"]


def test_a_consistent_judge_gives_a_win_rate_with_an_interval_and_length_control():
    verdicts = [("A", "B")] * 6 + [("B", "A")] * 2 + [("A", "A")] * 2
    answers_a = ["long answer " * (3 if i < 6 else 1) for i in range(10)]
    r = summarise([pair_score(*v) for v in verdicts], verdicts, answers_a, ["short"] * 10)
    assert r["informative"] and r["win_rate"] == pytest.approx(0.7)
    assert r["interval"][0] < 0.7 < r["interval"][1]
    assert r["length_difference_chars"] > 0 and r["length_controlled_win_rate"] < r["win_rate"]  # A wins by length


@pytest.fixture(scope="module")
def judge_folder():
    from evaluation.reference import reference_model
    return reference_model()


@pytest.fixture(scope="module")
def random_model(tmp_path_factory, prepared):
    from transformers import AutoTokenizer
    from evaluation.floor import glorot_random
    from trainers.sizes import model_config
    folder = tmp_path_factory.mktemp("random")
    glorot_random(model_config("smoke")).save_pretrained(folder)
    AutoTokenizer.from_pretrained(prepared.tokenizer_dir).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_two_checkpoints_judged_by_a_model_served_here(judge_folder, random_model, tmp_path):
    """The instruction model against a random one, judged by the instruction model served with
    `transformers serve` on 127.0.0.1: both orders asked for every prompt, the server stopped
    by its pid afterwards."""
    out = tmp_path / "winrate.json"
    done = cli(str(judge_folder), str(random_model), "--judge", str(judge_folder), "--limit", "2",
               "--max-new-tokens", "16", "--format", "json", "--output", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads(out.read_text())
    assert r["prompts"] == 2 and len(r["verdicts"]) == 2 and all(len(v) == 2 for v in r["verdicts"])
    assert 0 <= r["win_rate"] <= 1 and r["interval"][0] <= r["win_rate"] <= r["interval"][1]
    assert "stand-in" in r["prompts_source"] and r["seconds_per_pair"] > 0
    assert isinstance(r["informative"], bool) and (r["informative"] or r["why_not_informative"])
    assert r["judge_served_pid"] and not Path(f"/proc/{r['judge_served_pid']}").exists()


@pytest.mark.parametrize("args, named", [
    (["--judge", "http://127.0.0.1:9/v1"], "does not answer"),
    (["--judge", "JUDGE", "--prompts", "poems"], "unknown prompts 'poems'"),
    (["--judge", "NOT_A_MODEL"], "not a Hugging Face causal-LM folder"),
    ([], "no judge"),
])
def test_bad_judges_and_prompts_are_one_line(args, named, random_model, judge_folder, tmp_path):
    args = [str(judge_folder) if a == "JUDGE" else str(tmp_path) if a == "NOT_A_MODEL" else a for a in args]
    env_free = {k: v for k, v in os.environ.items() if not k.startswith("CODEMIX_JUDGE")}
    done = subprocess.run([sys.executable, "-m", "evaluation.winrate", str(random_model), str(random_model), *args,
                           "--limit", "1", "--max-new-tokens", "4"], cwd=ROOT, env=env_free,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and named in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1
