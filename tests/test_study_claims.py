"""The study's claims measured on results tables (sweeps/study_claims.py) and the study
command's refusals (sweeps/study.py): verdicts follow the interval, lower-is-better metrics
are turned the paper's way, a zero to divide by or a single seed is inconclusive, and bad
input is one line before anything runs."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sweeps.study_claims import claims, ratio, relative, tally, verdict
from sweeps.study_plan import plan

ROOT = Path(__file__).resolve().parents[1]


def _ratio_frame(nl: dict[float, list[float]], bpb: dict[float, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"code_ratio": r, "seed": s, "nl_reasoning": nl[r][s], "nl_reasoning_bpb": bpb[r][s]}
                         for r in nl for s in range(len(nl[r]))])


def test_a_relative_increase_is_paired_by_seed_and_its_verdict_follows_the_interval():
    without = pd.Series([0.40, 0.50, 0.45], index=[0, 1, 2])
    better = pd.Series([0.42, 0.52, 0.47], index=[0, 1, 2])  # every seed up ~4-5%: tight although seeds differ a lot
    m = relative(better, without, "max")
    assert m["value"] == pytest.approx(np.mean([0.02 / 0.40, 0.02 / 0.50, 0.02 / 0.45])) and m["low"] > 0
    assert verdict("relative", 0.034, m)[0] == "agrees"
    assert verdict("relative", -0.183, m)[0] == "disagrees"
    noisy = pd.Series([0.45, 0.47, 0.44], index=[0, 1, 2])
    assert verdict("relative", 0.034, relative(noisy, without, "max"))[0] == "inconclusive at this scale"
    one = relative(better.iloc[:1], without.iloc[:1], "max")
    assert verdict("relative", 0.034, one) == ("inconclusive at this scale", "+5.0% from one seed: no interval")


def test_lower_is_better_metrics_are_turned_the_papers_way_and_zero_is_not_divided_by():
    without, with_ = pd.Series([3.0, 3.2, 3.1]), pd.Series([2.7, 2.9, 2.8])  # bits-per-byte fell: better
    assert relative(with_, without, "min")["value"] == pytest.approx(np.mean([0.1, 0.3 / 3.2, 0.3 / 3.1]))
    assert ratio(with_, without, "min")["value"] > 1
    zero = relative(pd.Series([0.1, 0.2]), pd.Series([0.0, 0.0]), "max")
    assert zero["value"] is None and verdict("ratio", 12.0, zero)[0] == "inconclusive at this scale"


def test_the_code_ratio_claims_from_a_results_table():
    nl = {0.0: [0.40, 0.41, 0.39], 0.25: [0.42, 0.43, 0.41], 0.75: [0.38, 0.39, 0.37], 1.0: [0.30, 0.31, 0.29]}
    bpb = {r: [3.0 + r * 0.1 + 0.01 * s for s in range(3)] for r in nl}  # worse with code, on every seed
    optimum = {"nl_reasoning": {"best": 0.3, "low": 0.15, "high": 0.45}, "nl_reasoning_bpb": {"best": 0.0, "low": 0.0,
                                                                                              "high": 0.1}}
    rows = {(r["id"], r["metric"]): r for r in claims({"ratio": _ratio_frame(nl, bpb)}, optimum, "1m", "4m")}
    assert rows[("best_ratio_nl", "nl_reasoning")]["verdict"] == "agrees"
    assert rows[("best_ratio_nl", "nl_reasoning_bpb")]["verdict"] == "disagrees"
    assert rows[("best_ratio_nl", "val_bpb_text")]["verdict"] == "not measured"
    assert rows[("nl_25_vs_0", "nl_reasoning")]["verdict"] == "agrees"
    assert rows[("nl_25_vs_0", "nl_reasoning_bpb")]["verdict"] == "disagrees"
    assert rows[("nl_100_vs_0", "nl_reasoning")]["verdict"] == "agrees"
    assert rows[("know_25_vs_0", "world_knowledge")]["verdict"] == "not measured"
    counts = tally(list(rows.values()))
    assert counts["study metrics"]["agrees"] == 3 and counts["bits-per-byte"]["disagrees"] >= 2


def test_the_synthetic_claim_compares_against_the_code_ratio_experiments_25_percent():
    ratio_df = _ratio_frame({0.25: [0.40, 0.41]}, {0.25: [3.0, 3.1]})
    syn = pd.DataFrame([{"synthetic_share": 0.1, "code_ratio": 0.25, "seed": s, "nl_reasoning": v,
                         "nl_reasoning_bpb": b} for s, (v, b) in enumerate([(0.44, 2.9), (0.45, 3.0)])])
    rows = {(r["id"], r["metric"]): r for r in claims({"ratio": ratio_df, "synthetic": syn}, {}, "1m", "4m")}
    assert rows[("syn_nl", "nl_reasoning")]["value"] == pytest.approx(np.mean([0.04 / 0.40, 0.04 / 0.41]))
    assert rows[("syn_nl", "nl_reasoning_bpb")]["verdict"] == "agrees"


def test_the_plan_trains_what_two_experiments_share_once():
    steps = {s.name: s for s in plan("laptop", ("ratio", "init", "size", "synthetic", "cooldown", "recipe"),
                                     "st", ["--storage", "x"])}
    assert "--sizes" in steps["size"].argv and "1m" not in steps["size"].argv  # the ratio experiment is its 1m
    assert steps["size"].reuses == 3 * 2 and steps["synthetic"].reuses == 3
    assert steps["cooldown"].argv[steps["cooldown"].argv.index("--cooldowns") + 1] == "text,code"
    assert steps["recipe"].reuses == 3 * 4


def _study(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "sweeps/study.py", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args, named", [
    (["--scale", "huge"], "unknown scale 'huge'"),
    (["--scale", "smoke", "--experiments", "ratio,tokenizer"], "'tokenizer' is not one of the study's experiments"),
    (["--scale", "paper-470m"], "trains on a GPU cluster: plan it here with --dry-run"),
    (["--scale", "smoke", "--resume"], "no study 'codemix-study' stored"),
    (["--scale", "smoke", "--seeds", "0"], "--seeds must be at least 1"),
    (["--scale", "smoke", "--storage", "s3://bucket/study"], "give a local or mounted one"),
])
def test_bad_study_input_is_one_line_and_exit_2(tmp_path, args, named):
    done = _study(*args, *([] if "--storage" in args else ["--storage", str(tmp_path)]))
    assert done.returncode == 2 and named in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not list(tmp_path.iterdir())  # nothing started


def test_resuming_a_study_whose_configuration_changed_says_what_changed(tmp_path):
    from sweeps.study import shared_flags, parser, save, state_path
    args = parser().parse_args(["--scale", "smoke", "--storage", str(tmp_path)])
    steps = plan("smoke", ("ratio", "init"), args.experiment, shared_flags(args))
    save(state_path(args), {"config": {"scale": "smoke", "steps": {s.name: list(s.argv) for s in steps}},
                            "experiments": {}})
    done = _study("--scale", "smoke", "--experiments", "ratio,init", "--seeds", "3", "--resume",
                  "--storage", str(tmp_path))
    assert done.returncode == 2 and "configuration changed (ratio: --seeds 3 was 2)" in done.stderr, done.stderr
    done = _study("--scale", "smoke", "--experiments", "ratio", "--resume", "--storage", str(tmp_path))
    assert "experiment init was in the study" in done.stderr
    done = _study("--scale", "smoke", "--experiments", "ratio,init", "--storage", str(tmp_path))
    assert done.returncode == 2 and "--resume it, or give another --experiment" in done.stderr


def test_table_2_lists_each_recipes_stages_once_with_their_own_scores():
    from sweeps.study_report import stage_rows
    df = pd.DataFrame([
        {"variant": "text_only/none", "seed": 0, "nl_reasoning": 0.40},
        {"variant": "balanced_to_text/none", "seed": 0, "nl_reasoning": 0.44, "init/nl_reasoning": 0.42},
        {"variant": "balanced_to_text/code", "seed": 0, "nl_reasoning": 0.46, "init/nl_reasoning": 0.42,
         "continue/nl_reasoning": 0.44},
        {"variant": "balanced_to_text/code", "seed": 1, "nl_reasoning": 0.48, "init/nl_reasoning": 0.40,
         "continue/nl_reasoning": 0.44}])
    rows = [(r["variant"], r["stage"], round(r["nl_reasoning"], 4)) for r in stage_rows(df)]
    # init: seed 0's (0.42, the same stage in both variants) and seed 1's (0.40); continue: 0.44 from
    # the no-cooldown variant's final score and from the cooldown variant's record of it.
    assert rows == [("Text-only", "pretrain", 0.40), ("Balanced->Text", "init", 0.41),
                    ("Balanced->Text", "continue", 0.44), ("Balanced->Text", "cooldown (code)", 0.47)]


def test_an_experiments_own_refusal_stops_the_study_before_anything_trains(tmp_path):
    done = _study("--scale", "smoke", "--data", str(tmp_path / "missing.yaml"), "--storage", str(tmp_path / "runs"))
    assert done.returncode == 2 and "error: experiment ratio:" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "runs" / "codemix-study.study.json").exists()


def test_an_optimum_whose_interval_reaches_no_code_does_not_agree_that_some_code_is_best():
    from sweeps.study_claims import optimum_verdict
    assert optimum_verdict(0.25, {"best": 0.35, "low": 0.0, "high": 0.46, "interior": False})[0] == \
        "inconclusive at this scale"
    assert optimum_verdict(0.25, {"best": 0.3, "low": 0.1, "high": 0.45, "interior": True})[0] == "agrees"
    assert optimum_verdict(0.25, {"best": 0.8, "low": 0.6, "high": 0.95, "interior": True})[0] == "disagrees"


def test_the_recipe_is_measured_against_the_best_other_variant():
    rows = [{"variant": v, "seed": s, "nl_reasoning": base + 0.01 * s}
            for v, base in (("text_only/none", 0.40), ("balanced_to_text/none", 0.43), ("balanced_to_text/code", 0.46))
            for s in range(3)]
    found = [r for r in claims({"init": pd.DataFrame(rows)}, {}, "1m", "4m") if r["id"] == "recipe_best"]
    nl = [r for r in found if r["metric"] == "nl_reasoning"][0]
    assert nl["verdict"] == "agrees" and "balanced_to_text/none" in nl["reason"]
    assert nl["value"] == pytest.approx(np.mean([0.03 / (0.43 + 0.01 * s) for s in range(3)]))
    assert [r for r in found if r["metric"] == "code_bpb"][0]["verdict"] == "not measured"


def test_the_win_rate_claim_is_the_margin_of_wins_over_losses_against_the_text_lm():
    def init(rates, informative=True, **extra):
        return pd.DataFrame([{"variant": "text_only/none", "seed": s} for s in range(len(rates))] +
                            [{"variant": "balanced_to_text/none", "seed": s, "win_rate": w,
                              "win_rate_informative": informative, **extra} for s, w in enumerate(rates)])

    def row(frame):
        return [r for r in claims({"init": frame}, {}, "1m", "4m") if r["id"] == "init_winrate"][0]
    won = row(init([0.55, 0.56, 0.54]))
    assert won["value"] == pytest.approx(0.10) and won["verdict"] == "agrees" and won["low"] > 0
    one = row(init([0.53], win_rate_low=0.47, win_rate_high=0.59))  # one seed: the judge's interval over prompts
    assert (one["low"], one["high"]) == pytest.approx((-0.06, 0.18)) and one["verdict"] == "inconclusive at this scale"
    assert row(init([0.60, 0.61, 0.62], informative=False))["verdict"] == "inconclusive at this scale"
    assert row(pd.DataFrame([{"variant": "text_only/none", "seed": 0, "nl_reasoning": 0.4}]))["verdict"] == \
        "not measured"
    assert tally([won])["study metrics"]["agrees"] == 1


def test_the_synthetic_share_table_starts_at_the_code_ratio_experiments_25_percent():
    from sweeps.study_report import build
    ratio_df = _ratio_frame({0.0: [0.39, 0.40], 0.25: [0.40, 0.41]}, {0.0: [3.2, 3.3], 0.25: [3.0, 3.1]})
    syn = pd.DataFrame([{"synthetic_share": 0.1, "code_ratio": 0.25, "seed": s, "nl_reasoning": 0.44 + 0.01 * s}
                        for s in range(2)])
    table = build([], {"ratio": ratio_df, "synthetic": syn}, {"own_size": "1m"})["tables"]["synthetic_share"]
    assert [r["synthetic_share"] for r in table] == [0.0, 0.1]
    assert table[0]["nl_reasoning"] == pytest.approx(0.405)
