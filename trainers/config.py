"""The config of one training run: one frozen dataclass, built once and checked when built.

Each field belongs to one part, named where it is declared:
- `COMPUTE`: what the run computes (the model, the data mixture, the optimisation): two runs
  that agree on these train the same weights, so a stage's identity is these fields alone
  (trainers/stages.py);
- `RUN`: how and where it runs (workers, devices, storage of the data, checkpoints, reports);
- `EVAL`: what is measured and on how many items.
A preset (trainers/presets.py) is a complete `TrainConfig`; flags and a trial's point apply
by `dataclasses.replace`. Building one is cheap and pure: it checks only the config itself.
What needs the machine (the benchmarks lm-eval knows, the code sandbox, the prepared data)
is checked once, in a sweep's pre-flight (`check_machine`, `TrainConfig.check_data`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from trainers.data.mixture import DEFAULT_CODE_MIX, Mixture, MixedStream
from trainers.data.prepare import PreparedData
from trainers.sizes import get_size

PARALLEL = ("ddp", "fsdp")
PRECISIONS = ("auto", "bf16", "fp32")  # auto: bf16 compute (fp32 master weights and optimizer state) on GPUs, fp32 on CPU
KERNELS = ("auto", "chunked", "fused", "full")  # the loss (trainers/loss.py); full: whole logits, a baseline to measure
ATTENTION = ("sdpa", "eager", "flash_attention_2")  # transformers' attention implementations; flash needs flash-attn
SCHEDULES = ("cosine", "linear")  # linear: the study's cooldown, a straight decay to min_lr
# Held-out bits-per-byte per family; web code is "code", the headline code metric.
VAL_METRIC = {"text": "val_bpb_text", "web_code": "val_bpb_code", "markup": "val_bpb_markup",
              "code_adjacent": "val_bpb_code_adjacent", "synthetic": "val_bpb_synthetic"}
PARTS = COMPUTE, RUN, EVAL = "compute", "run", "eval"


def compute(default=MISSING):
    return field(default=default, metadata={"part": COMPUTE})


def run(default=MISSING):
    return field(default=default, metadata={"part": RUN})


def measure(default=MISSING):
    return field(default=default, metadata={"part": EVAL})


@dataclass(frozen=True)
class TrainConfig:
    # What the run computes: the model, the data mixture, the optimisation.
    code_ratio: float = compute()
    model_size: str = compute()
    tokens: int = compute()              # training tokens over all workers
    seed: int = compute()                # the initialisation and the data stream's order
    synthetic_share: float = compute(0.0)        # of the code budget
    code_mix: str = compute(DEFAULT_CODE_MIX)    # the rest of the code budget, by family
    text_mix: str = compute("")                  # the text budget by tier ("": every text source by size)
    global_batch: int = compute(16)      # sequences per optimizer step, summed over workers
    lr: float = compute(3e-3)            # small models tolerate a high peak LR
    schedule: str = compute("cosine")
    warmup_frac: float = compute(0.05)
    min_lr: float = compute(3e-4)        # cosine ends at 10% of the peak (Chinchilla); cooldowns use 1e-6
    weight_decay: float = compute(0.1)
    grad_clip: float = compute(1.0)
    # How and where it runs.
    manifest: str = run("")              # trainers.data.prepare's manifest: where the prepared data is
    init_checkpoint: str = run("")       # an HF checkpoint to start from ("": Glorot-normal, as in the study);
    #                                      a path: a stage's identity holds the stage before it instead
    allow_repeat: bool = run(True)       # False: refuse a budget that repeats a source
    log_every: int = run(10)
    checkpoint_every: int = run(0)       # steps between checkpoints (0: only the final one)
    keep_checkpoints: int = run(2)
    max_failures: int = run(2)           # worker-group restarts from the last checkpoint before a trial fails
    parallel: str = run("ddp")
    num_workers: int = run(2)
    micro_batch: int = run(0)            # sequences per worker per forward pass (gradients accumulated);
    #                                      0: a worker's whole share on CPU, the memory plan's choice on GPUs
    precision: str = run("auto")
    loss_kernel: str = run("auto")       # KERNELS; auto: liger's fused kernel on GPUs where installed, else chunked
    loss_chunk: int = run(4096)          # tokens of logits alive at a time in the chunked loss
    activation_checkpointing: bool = run(False)  # recompute each block's activations in the backward pass
    attention: str = run("sdpa")
    compile: bool = run(False)           # torch.compile each transformer block
    gpu_memory: float = run(80.0)        # GiB per GPU that the memory plan must fit (trainers/memory.py)
    cpus_per_worker: float = run(1.0)
    use_gpu: bool = run(False)
    # What is measured, and on how much.
    eval_tokens: int = measure(32_768)   # held-out tokens per family for bits-per-byte
    eval_suite: str = measure("none")    # benchmarks scored at the end (evaluation.suites: "paper"); "none": skip
    eval_tasks: str = measure("")        # a comma list of tasks or categories instead of the whole suite
    eval_limit: int = measure(0)         # items per task, a fixed seeded subset; 0: every item
    allow_code_execution: bool = measure(False)  # score pass@1 by running generated code (evaluation/sandbox.py)
    eval_code_limit: int = measure(0)    # items per pass@1 task (a prefix of the same subset); 0: eval_limit
    track_metric: str = measure("")      # measured at every report (ASHA, Optuna): val_bpb_* or scores, comma list

    def __post_init__(self):
        _ = self.mixture  # a bad mixture fails here
        get_size(self.model_size)  # and an unknown size here
        if self.num_workers < 1 or self.global_batch % self.num_workers:
            raise ValueError(f"global batch {self.global_batch} does not split over {self.num_workers} workers")
        if self.micro_batch < 0 or self.micro_batch and (self.global_batch // self.num_workers) % self.micro_batch:
            raise ValueError(f"micro-batch {self.micro_batch} does not split a worker's "
                             f"{self.global_batch // self.num_workers} sequences a step")
        if self.tokens < self.tokens_per_step:
            raise ValueError(f"token budget {self.tokens} is smaller than one batch ({self.tokens_per_step} tokens)")
        for name, value, known in (("precision", self.precision, PRECISIONS), ("attention", self.attention, ATTENTION),
                                   ("loss kernel", self.loss_kernel, KERNELS)):
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; choose from {', '.join(known)}")
        if self.loss_chunk < 1 or not self.gpu_memory > 0:
            raise ValueError(f"loss_chunk {self.loss_chunk} and gpu_memory {self.gpu_memory:g} GiB must be positive")
        if self.parallel not in PARALLEL:
            raise ValueError(f"unknown parallelism {self.parallel!r}; choose from {', '.join(PARALLEL)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown LR schedule {self.schedule!r}; choose from {', '.join(SCHEDULES)}")
        if self.eval_limit < 0 or self.eval_code_limit < 0:
            raise ValueError(f"eval_limit and eval_code_limit must be >= 0 (0: every item), "
                             f"got {self.eval_limit} and {self.eval_code_limit}")
        if self.checkpoint_every < 0 or self.keep_checkpoints < 1:
            raise ValueError(f"checkpoint_every {self.checkpoint_every} and keep_checkpoints "
                             f"{self.keep_checkpoints} must be >= 0 and >= 1")

    def part(self, name: str) -> dict:
        """The fields of one part (COMPUTE, RUN or EVAL) by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["part"] == name}

    @property
    def mixture(self) -> Mixture:
        return Mixture.build(self.code_ratio, self.synthetic_share, self.code_mix, self.text_mix)

    @property
    def seq_len(self) -> int:
        return get_size(self.model_size).seq_len

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.seq_len

    @property
    def cpu_threads(self) -> int:
        """Torch threads of one worker on CPU: its share of the cores, at least one."""
        return max(1, round(self.cpus_per_worker))

    @property
    def steps(self) -> int:
        return self.tokens // self.tokens_per_step

    @property
    def step_tokens(self) -> int:
        """The tokens the run trains: its whole steps' worth."""
        return self.steps * self.tokens_per_step

    @property
    def benchmarks(self) -> list:
        """The benchmarks scored at the end of the run (evaluation.suites.Benchmark)."""
        from evaluation.suites import resolve
        return [] if self.eval_suite == "none" else resolve(self.eval_suite, self.eval_tasks,
                                                             allow_code_execution=self.allow_code_execution)

    def lr_at(self, step: int) -> float:
        if self.schedule == "linear":  # cooldown: from the peak straight down to min_lr
            return self.lr + (self.min_lr - self.lr) * step / max(1, self.steps - 1)
        warmup = max(1, int(self.warmup_frac * self.steps))
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, self.steps - warmup)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))

    def check_data(self, data: PreparedData) -> dict[str, float]:
        """Epochs per family this run needs; refuses repetition when allow_repeat is False,
        and an init checkpoint of another size or tokenizer."""
        if self.init_checkpoint:
            check_init_checkpoint(Path(self.init_checkpoint), self.model_size, data)
        # Planning the stream needs only each family's length: ranges stand in for the tokens,
        # so checking every trial of a sweep loads nothing.
        stream = MixedStream({p: range(data.family_size(p, "train")) for p, w in self.mixture.parts().items() if w > 0},
                             self.mixture, self.seq_len, self.seed)
        epochs = stream.epochs(self.steps * self.global_batch)
        over = {f: e for f, e in epochs.items() if e > 1.0}
        if over and not self.allow_repeat:
            f, e = max(over.items(), key=lambda kv: kv[1])
            have = len(stream.arrays[f])
            raise ValueError(f"--no-repeat: family {f} has {have:,} training tokens but code ratio "
                             f"{self.code_ratio:g} needs {round(e * have):,} ({e:.2f} epochs)")
        return epochs


def check_machine(cfg: TrainConfig) -> None:
    """What a config needs of the machine, checked once in a sweep's pre-flight: the training
    levers it asks for, the benchmarks it scores (lm-eval's registry) and, when it runs
    generated code, the sandbox. (A cluster's workers are assumed to hold what its driver holds.)"""
    check_levers(cfg)
    if cfg.eval_suite == "none":
        return
    from evaluation.suites import resolve
    resolve(cfg.eval_suite, cfg.eval_tasks)  # an unknown task or suite fails here
    if cfg.allow_code_execution:
        from evaluation.sandbox import SandboxUnavailable, isolation
        try:
            isolation()
        except SandboxUnavailable as e:  # no sandbox on this machine: one line, before training
            raise ValueError(f"--allow-code-execution: {e}") from None


def check_levers(cfg: TrainConfig) -> None:
    """A lever this machine cannot pull fails here in one line rather than in every worker."""
    import importlib.util
    import shutil
    if cfg.loss_kernel == "fused" and not cfg.use_gpu:
        raise ValueError("--loss-kernel fused is liger-kernel's GPU kernel: on CPU use chunked (the default)")
    if cfg.loss_kernel == "fused" and importlib.util.find_spec("liger_kernel") is None:
        raise ValueError("--loss-kernel fused needs liger-kernel (pip install liger-kernel), or use chunked")
    if cfg.attention == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        raise ValueError("--attention flash_attention_2 needs the flash-attn package: use sdpa (the default)")
    if cfg.attention == "flash_attention_2" and not cfg.use_gpu:
        raise ValueError("--attention flash_attention_2 runs on GPUs only: use sdpa (the default)")
    if cfg.compile and not cfg.use_gpu and not (shutil.which("g++") or shutil.which("c++")):
        raise ValueError("--compile on CPU needs a C++ compiler (torch inductor): install g++ or drop --compile")
    if cfg.use_gpu and cfg.precision != "fp32" and not os.environ.get("RAY_ADDRESS"):
        import torch  # a local GPU that cannot compute in bf16 (before Ampere)
        if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
            raise ValueError(f"--precision bf16: {torch.cuda.get_device_name()} cannot compute in bf16; "
                             "use --precision fp32")


def tokenizer_fingerprint(folder: Path) -> str:
    """What makes two tokenizers the same: the vocabulary and merges of tokenizer.json."""
    model = json.loads((folder / "tokenizer.json").read_text())["model"]
    return hashlib.sha1(json.dumps([model["vocab"], model.get("merges")], sort_keys=True).encode()).hexdigest()


def check_init_checkpoint(path: Path, size: str, data: PreparedData) -> None:
    from trainers.sizes import model_config
    if not (path / "config.json").exists():
        raise ValueError(f"init checkpoint {str(path)!r} is missing (no config.json there)")
    theirs, ours = json.loads((path / "config.json").read_text()), model_config(size).to_dict()
    dims = ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads", "vocab_size")
    if any(theirs.get(k) != ours[k] for k in dims):
        raise ValueError(f"init checkpoint {str(path)!r} is another size than {size!r} "
                         f"({', '.join(f'{k}={theirs.get(k)}' for k in dims)})")
    if not (path / "tokenizer.json").exists() or tokenizer_fingerprint(path) != tokenizer_fingerprint(data.tokenizer_dir):
        raise ValueError(f"init checkpoint {str(path)!r} was made with another tokenizer than this sweep's")
