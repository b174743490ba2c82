"""Checks on the Ray cluster a sweep joins, before any trial starts.

    connect()                    # ray.init(), with a one-line error for a cluster it cannot join
    check_shared(spec.storage)   # on several nodes: every node must see the sweep's storage

Ray Train and Tune keep a trial's checkpoints and results under one storage path; on a
cluster of several nodes, a trial whose workers run on another node writes there and the
sweep reads it back. A local folder that only the driver's node has would scatter them over
the nodes' disks, and nothing could restore or read them. The check writes a marker on the
driver and asks a task pinned to every alive node whether it reads the same marker.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import ray
import ray.exceptions
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from sweeps import store

CHECK_TIMEOUT_S = 120.0  # a node's first task starts a worker process: seconds on busy cores


def connect(log_to_driver: bool = True) -> None:
    """Join $RAY_ADDRESS or this machine's running cluster, else start a local one.
    `log_to_driver=False`: the workers' output stays in Ray's logs (and its dashboard)."""
    if ray.is_initialized():
        return
    try:
        ray.init(log_to_driver=log_to_driver)
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as e:
        first = next((line.strip() for line in str(e).splitlines() if line.strip()), type(e).__name__)
        first = first.split(". ")[0]  # Ray's messages go on for several sentences
        token = isinstance(e, ray.exceptions.AuthenticationError) or "token" in str(e).lower()
        hint = (" (a token-protected cluster: set RAY_AUTH_MODE=token and the cluster's token in "
                "RAY_AUTH_TOKEN or ~/.ray/auth_token)" if token else "")
        raise ValueError(f"cannot join the Ray cluster: {first[:300]}{hint}") from None


@ray.remote(num_cpus=0)
def _reads(path: str, token: str) -> bool:
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


def check_shared(storage, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Refuse, in one line, a storage that some alive node of a multi-node cluster cannot see."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    if len(nodes) < 2 or store.is_uri(storage):
        return  # one node sees its own folder; a URI (s3://) is the same place from everywhere
    token = uuid.uuid4().hex
    marker = Path(storage) / f".shared-check-{token}"
    marker.write_text(token)
    try:
        refs = [_reads.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(marker), token) for n in nodes]
        seen = ray.get(refs, timeout=timeout)
    finally:
        marker.unlink(missing_ok=True)
    blind = [n for n, ok in zip(nodes, seen, strict=True) if not ok]
    if blind:
        where = ", ".join(f"{n['NodeManagerAddress']} ({n['NodeID'][:8]})" for n in blind)
        raise ValueError(f"--storage {storage} is not shared by the cluster's nodes: {len(blind)} of {len(nodes)} "
                         f"cannot see it ({where}); give a folder that every node mounts (NFS, EFS), "
                         "as cluster.yaml's /mnt/codemix")
