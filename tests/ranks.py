"""The training core on each rank of a process group, as `torchrun` starts it (tests/test_core.py):

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/ranks.py JOB.json

JOB.json holds the run's config (TrainConfig fields), the batches file (one global batch a
step), what to do ("step": one SGD step with lr 1, saving the loss and the full weights;
"curve": AdamW steps, saving the loss of each) and where rank 0 writes the result. With one
rank it runs in the calling process (`run(job)`), without a process group.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torch.distributed.checkpoint.state_dict import get_model_state_dict  # noqa: E402

from trainers.config import TrainConfig  # noqa: E402
from trainers.core import FULL, build_model, optimizer, sum_over_ranks, train_step, wrap  # noqa: E402


def run(job: dict) -> None:
    torch.set_num_threads(1)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("gloo")  # env:// from torchrun
    cfg = TrainConfig(**job["cfg"])
    batches = torch.load(job["batches"])
    model = wrap(build_model(cfg, None), cfg, torch.device("cpu"))
    share = batches.shape[1] // world
    mine = batches[:, rank * share:(rank + 1) * share]
    if job["do"] == "step":  # plain SGD at lr 1: the weights show the gradients (Adam's first step is
        # about lr x sign(gradient), which float noise flips where it is ~0)
        loss, _ = train_step(model, torch.optim.SGD(model.parameters(), lr=1.0), mine[0], cfg, step=0)
        out = {"loss": (sum_over_ranks(loss) / world).item(),
               "weights": {k: v.clone() for k, v in get_model_state_dict(model, options=FULL).items()}}
    else:
        opt = optimizer(model, cfg)
        out = [(sum_over_ranks(train_step(model, opt, b, cfg, i)[0]) / world).item() for i, b in enumerate(mine)]
    if rank == 0:
        torch.save(out, job["out"])
    if world > 1:
        del model  # before the group: DDP's reducer, freed after the group is destroyed, can wait forever on it
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    run(json.loads(Path(sys.argv[1]).read_text()))
