"""Model FLOPs per token and the peak a device can reach, for MFU.

MFU = (6 * params + 12 * layers * d_model * seq_len) * tokens/s / peak  (PaLM, Appendix B).
On CPU the peak is measured (an fp32 matmul at the worker's thread count): datasheets say
little about a laptop. It is measured once per machine and thread count and kept in the
codemix cache (`cpu_peak.json`), so a trial neither spends 0.3 s on it before its first step
nor reports an MFU that moves with whatever else was starting at that moment. On GPU it is
the datasheet's dense bf16 peak.
"""

from __future__ import annotations

import json
import os
import platform
import time

from trainers.data.prepare import cache_root

GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10G": 125e12}


def flops_per_token(n_params: int, n_layers: int, d_model: int, seq_len: int) -> float:
    return 6.0 * n_params + 12.0 * n_layers * d_model * seq_len


def cpu_matmul_peak(n: int = 512, seconds: float = 0.3) -> float:
    """fp32 FLOP/s of a square matmul with this process's torch threads."""
    import torch  # here: the plan (trainers/memory.py) uses flops_per_token without torch
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up: thread pool and caches
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
    return 2.0 * n ** 3 * reps / (time.perf_counter() - start)


def cpu_peak(threads: int | None = None) -> float:
    """This machine's matmul peak at `threads` torch threads (default: this process's), measured
    on first use. A sweep's driver measures it before Ray starts, on a quiet machine: on 2 cores
    it read 102 GFLOP/s there and 69-91 GFLOP/s inside a starting trial."""
    import torch
    threads = threads or torch.get_num_threads()
    key = f"{platform.node()}/{platform.machine()}/{threads} threads"
    path = cache_root() / "cpu_peak.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    if key not in known:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            known[key] = cpu_matmul_peak()
        finally:
            torch.set_num_threads(before)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # workers may write at once: rename is atomic
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    return known[key]


def device_peak(device) -> float:
    """A torch.device's peak FLOP/s: the datasheet's for a GPU, measured for the CPU."""
    if device.type == "cuda":
        import torch
        name = torch.cuda.get_device_name(device)
        for key, peak in GPU_PEAK_BF16.items():
            if key in name:
                return peak
        raise ValueError(f"no datasheet peak known for GPU {name!r}; add it to GPU_PEAK_BF16")
    return cpu_peak()
