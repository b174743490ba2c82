"""Measured peak memory of training steps, to check the plan (trainers/memory.py) against.

    peak = measured_peak(lambda step: train_step(model, opt, batch, cfg, step), device, model, opt)

On a GPU: the caching allocator's peak of allocated bytes (`torch.cuda.max_memory_allocated`).
On CPU, where no allocator keeps count, `LiveBytes` counts the same thing: a dispatch mode
that sees every tensor storage the step's operations create (forward, backward and the
optimizer's alike), holds a weak reference to each and adds its bytes while it is alive,
resizes included (FSDP2 frees its unsharded parameters by resizing their storage to zero).
The first step is run uncounted: AdamW allocates its moments on it; the peak is the steady
state's, of the steps after.
"""

from __future__ import annotations

import weakref

import torch
from torch.distributed.tensor import DTensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def measured_peak(step, device: torch.device, model: torch.nn.Module, opt: torch.optim.Optimizer,
                  steps: int = 2) -> int:
    """Peak bytes allocated over `steps` calls of step(i) after a first, uncounted one."""
    step(0)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        for i in range(1, steps + 1):
            step(i)
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device)
    existing = [*model.parameters(), *model.buffers(),
                *(v for state in opt.state.values() for v in state.values() if isinstance(v, torch.Tensor))]
    with LiveBytes(existing) as counter:
        for i in range(1, steps + 1):
            step(i)
    return counter.peak


class LiveBytes(TorchDispatchMode):
    """Bytes of every storage alive that existed at the start or was made since; its peak."""

    def __init__(self, existing=()):
        super().__init__()
        self.live = self.peak = 0
        self.sizes: dict[int, int] = {}       # storage (its C++ address) -> bytes counted
        self.refs: dict[int, weakref.ref] = {}
        for t in existing:
            self._count(t)

    def _count(self, t: torch.Tensor) -> None:
        if isinstance(t, DTensor):
            t = t.to_local()
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.sizes:
            return
        self.sizes[key] = storage.nbytes()
        self.refs[key] = weakref.ref(storage, lambda _, key=key: self._free(key))
        self._add(self.sizes[key])

    def _free(self, key: int) -> None:
        self.live -= self.sizes.pop(key, 0)
        self.refs.pop(key, None)

    def _add(self, n: int) -> None:
        self.live += n
        self.peak = max(self.peak, self.live)

    def __enter__(self):
        resize, counter = torch.UntypedStorage.resize_, self

        def counted_resize(storage, size):
            out = resize(storage, size)
            key = storage._cdata
            if key in counter.sizes:
                counter._add(storage.nbytes() - counter.sizes[key])
                counter.sizes[key] = storage.nbytes()
            return out
        self._resize = resize
        torch.UntypedStorage.resize_ = counted_resize
        return super().__enter__()

    def __exit__(self, *exc):
        torch.UntypedStorage.resize_ = self._resize
        return super().__exit__(*exc)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if any(t is DTensor for t in types):
            return NotImplemented  # let DTensor run its local operations, which are counted
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self._count(t)
        return out
