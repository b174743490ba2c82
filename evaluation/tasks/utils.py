"""Loaders and scorers of codemix's lm-eval tasks (the YAML files beside this one).

Every loader reads the cached benchmark items (evaluation.benchmarks) and gives them one
shape, so one template scores them all:
  multiple choice  query, choices, gold           (WinoGrande: choices are the contexts,
                                                   continuation is the shared rest)
  reference answer query, target (the exact text scored after the query), answers
Prompts follow lm-eval's own task files for the same benchmarks (0-shot).

lm-eval hands a loader the task's metadata; `items` there (set by evaluation.harness) is the
number of items to keep: a fixed, seeded subset chosen before any row is formatted, so a
100-item run never touches the other 9,900 HellaSwag rows.
"""

from __future__ import annotations

import ast
import math
import re
import string
from functools import lru_cache

import numpy as np

from evaluation.benchmarks import hf_split, request_docs, subset

LN2 = math.log(2)


def _as_dataset(rows: list[dict]):
    import datasets
    return datasets.DatasetDict({"validation": datasets.Dataset.from_list(rows)})


def _hf(name: str, folder: str, items: int):
    data = hf_split(folder)
    return data.select(subset(name, len(data), items))


def _req(name: str, folder: str, items: int, whole: bool = False) -> list[dict]:
    docs = request_docs(folder, whole)
    return [docs[i] for i in subset(name, len(docs), items)]


def _listed(value):
    return ast.literal_eval(value) if isinstance(value, str) else value


# ---- multiple choice (NL reasoning) ----------------------------------------------------

def arc_easy(items: int = 0, **_):
    return _as_dataset([{"query": f"Question: {d['question']}\nAnswer:", "choices": d["choices"]["text"],
                         "gold": d["choices"]["label"].index(d["answerKey"])}
                        for d in _hf('arc_easy', "ai2_arc/ARC-Easy/validation", items)])


def boolq(items: int = 0, **_):
    return _as_dataset([{"query": f"{d['passage']}\nQuestion: {d['question']}?\nAnswer:", "choices": ["no", "yes"],
                         "gold": int(str(d["answer"]) == "True")} for d in _hf('boolq', "boolq/none/validation", items)])


def cb(items: int = 0, **_):
    return _as_dataset([{"query": f"{d['premise']}\nQuestion: {d['hypothesis']}. True, False, or Neither?\nAnswer:",
                         "choices": ["True", "False", "Neither"], "gold": int(d["label"])}
                        for d in _hf('cb', "super_glue/cb/validation", items)])


def copa(items: int = 0, **_):
    def lower_first(s: str) -> str:
        return s[0].lower() + s[1:]
    connector = {"cause": "because", "effect": "therefore"}
    return _as_dataset([{"query": d["premise"].strip()[:-1] + " " + connector[d["question"]],
                         "choices": [lower_first(d["choice1"]), lower_first(d["choice2"])], "gold": int(d["label"])}
                        for d in _hf('copa', "super_glue/copa/validation", items)])


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")  # WikiHow artefacts, as lm-eval cleans them
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag(items: int = 0, **_):
    return _as_dataset([{"query": _hellaswag_clean(d["activity_label"] + ": " + d["ctx_a"] + " " + d["ctx_b"].capitalize()),
                         "choices": [_hellaswag_clean(e) for e in _listed(d["endings"])], "gold": int(d["label"])}
                        for d in _hf('hellaswag', "hellaswag/none/validation", items)])


def piqa(items: int = 0, **_):
    return _as_dataset([{"query": f"Question: {d['goal']}\nAnswer:", "choices": [d["sol1"], d["sol2"]],
                         "gold": int(d["label"])} for d in _hf('piqa', "piqa/plain_text/validation", items)])


def sciq(items: int = 0, **_):
    return _as_dataset([{"query": f"{d['support'].lstrip()}\nQuestion: {d['question']}\nAnswer:".lstrip(),
                         "choices": [d["distractor1"], d["distractor2"], d["distractor3"], d["correct_answer"]],
                         "gold": 3} for d in _hf('sciq', "sciq/none/validation", items)])


def socialiqa(items: int = 0, **_):
    return _as_dataset([{"query": f"Q: {d['context']} {d['question']}\nA:",
                         "choices": [d["answerA"], d["answerB"], d["answerC"]], "gold": int(d["label"]) - 1}
                        for d in _hf('socialiqa', "social_i_qa/none/validation", items)])


def winogrande(items: int = 0, **_):
    rows = []
    for d in _hf('winogrande', "winogrande/winogrande_xl/validation", items):
        blank = d["sentence"].index("_")
        rows.append({"query": d["sentence"],
                     "choices": [d["sentence"][:blank] + d["option1"], d["sentence"][:blank] + d["option2"]],
                     "continuation": d["sentence"][blank + 1:].strip(), "gold": int(d["answer"]) - 1})
    return _as_dataset(rows)


def score_choices(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    """Per item: accuracy raw and per byte, gold bits-per-byte, gold probability among the choices."""
    lls = np.array([ll for ll, _ in results], dtype=np.float64)
    if doc.get("continuation"):  # partial scoring: the same continuation after every context
        answers = [" " + doc["continuation"]] * len(lls)
    else:
        answers = [" " + c for c in doc["choices"]]  # lm-eval's target_delimiter is one space
    nbytes = np.array([max(1, len(a.encode())) for a in answers], dtype=np.float64)
    per_byte = lls / nbytes
    gold = int(doc["gold"])
    return {"acc": float(np.argmax(lls) == gold), "acc_norm": float(np.argmax(per_byte) == gold),
            "bpb": float(-lls[gold] / LN2 / nbytes[gold]),
            "prob": float(_softmax(lls)[gold]), "prob_norm": float(_softmax(per_byte)[gold])}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


# ---- reference answers (world knowledge) and canonical solutions (code) ---------------

@lru_cache(maxsize=None)  # the exact-match and the bits-per-byte task share the rows
def _triviaqa_rows(items: int) -> tuple:
    return tuple({"query": f"Question: {d['question']}\nAnswer:", "target": " " + d["answer"]["value"],
                  "answers": list(d["answer"]["aliases"])}
                 for d in _hf('triviaqa', "trivia_qa/rc.wikipedia.nocontext/validation", items))


def triviaqa(items: int = 0, **_):
    return _as_dataset(list(_triviaqa_rows(items)))


def nq_open(items: int = 0, **_):
    return _as_dataset([{"query": f"Question: {d['question']}?\nAnswer:", "target": " " + _listed(d["answer"])[0],
                         "answers": list(_listed(d["answer"]))} for d in _hf('nq_open', "nq_open/none/validation", items)])


def humaneval(items: int = 0, **_):
    return _as_dataset([{"query": d["prompt"], "target": d["canonical_solution"], "answers": [],
                         "task_id": d["task_id"], "entry_point": d["entry_point"], "test": d["test"]}
                        for d in _req('humaneval', "codex_humaneval/gold_bpb_0shot", items)])


def mbpp_prompt(d: dict) -> str:
    """lm-eval's MBPP prompt: the task, its three tests, then [BEGIN]."""
    tests = "\n".join(d["test_list"])
    return (f"You are an expert Python programmer, and here is your task: {d['text']} "
            f"Your code should pass these tests:\n\n{tests}\n[BEGIN]\n")


def mbpp(items: int = 0, **_):
    return _as_dataset([{"query": mbpp_prompt(d), "target": d["code"].replace("\r\n", "\n"), "answers": [],
                         "task_id": str(d["task_id"]), "test": "\n".join(d["test_list"]),
                         "test_setup": d.get("test_setup_code") or ""}
                        for d in _req('mbpp', "codex_mbpp/gold_bpb_0shot", items)])


# pass@1 runs generated code: at most `code_items` of the same seeded subset (a prefix of
# the permutation, so these items are among the likelihood task's).
def humaneval_pass(items: int = 0, code_items: int = 0, **_):
    return humaneval(code_items or items)


def mbpp_pass(items: int = 0, code_items: int = 0, **_):
    return mbpp(code_items or items)


def program(doc: dict, completion: str) -> str:
    """The program that decides pass@1: HumanEval's prompt, completion, tests and check(entry
    point); MBPP's completion, setup and asserts."""
    if "entry_point" in doc and doc["entry_point"]:
        return f"{doc['query']}{completion}\n\n{doc['test']}\n\ncheck({doc['entry_point']})\n"
    return f"{completion}\n\n{doc.get('test_setup', '')}\n{doc['test']}\n"


def execute_completions(resps: list[list[str]], docs: list[dict]) -> list[list[dict]]:
    """lm-eval filter: every completion of this rank run in one sandbox batch."""
    from evaluation.sandbox import run_programs
    results = iter(run_programs([program(d, r[0]) for r, d in zip(resps, docs, strict=True)], timeout=PASS_TIMEOUT_S))
    return [[next(results)] for _ in resps]


PASS_TIMEOUT_S = 5.0  # HumanEval's and MBPP's tests take milliseconds; endless loops stop here


def score_pass(doc: dict, results: list) -> dict[str, float]:
    result = results[0][0] if isinstance(results[0], list) else results[0]
    return {"pass1": float(result["status"] == "passed")}


def coqa(items: int = 0, **_):
    """CoQA, the nearest offline stand-in for QuAC (conversational QA over a passage): the
    gold answer's likelihood after the passage and the conversation so far (OLMES' request)."""
    return _as_dataset([{"query": r["request"]["context"], "target": r["request"]["continuation"], "answers": []}
                        for r in _req('coqa', "coqa/bpb_0shot", items, whole=True)])


def score_gold(doc: dict, results: list[tuple[float, bool]]) -> dict[str, float]:
    (ll, _), = results
    return {"bpb": float(-ll / LN2 / max(1, len(doc["target"].encode())))}


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def score_exact_match(doc: dict, results: list[str]) -> dict[str, float]:
    said = normalize_answer(results[0])
    return {"exact_match": float(any(said == normalize_answer(a) for a in doc["answers"]))}
