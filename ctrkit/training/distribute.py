"""Cluster membership from `TF_CONFIG` and the distribution strategy it implies.

A process that is one of several workers (a `TF_CONFIG` whose cluster lists
more than one `chief`/`worker` task) trains under
`tf.distribute.MultiWorkerMirroredStrategy`: every worker holds a full copy
of the model, reads its own shard of the data and gradients are all-reduced
each step. Any other process uses the default (single-device) strategy.

`MultiWorkerMirroredStrategy` must be created before TensorFlow runs
anything else in the process; `strategy_from_environment()` is the first
thing `ctrkit train` and the estimators do with a `TF_CONFIG` cluster.

Example `TF_CONFIG` of the first of two workers:

    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}

For embedding tables too large for one worker's memory, use
`tf.distribute.ParameterServerStrategy` instead (`ctrkit.training.ParameterServerTrainer`, and
the README): tables live on parameter servers, workers pull the rows a batch
needs.
"""

from __future__ import annotations

import json
import os
from typing import Any

_TRAINING_JOBS = ("chief", "worker")


def tf_config() -> dict[str, Any]:
    """The parsed `TF_CONFIG` environment variable (empty when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ValueError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    return config


def num_workers(config: dict[str, Any] | None = None) -> int:
    """Training tasks (chief and workers) in the cluster; 1 without one."""
    cluster = (tf_config() if config is None else config).get("cluster") or {}
    return max(1, sum(len(cluster.get(job) or []) for job in _TRAINING_JOBS))


def is_multi_worker(config: dict[str, Any] | None = None) -> bool:
    """Whether this process is one of several synchronous training workers."""
    config = tf_config() if config is None else config
    cluster = config.get("cluster") or {}
    return "ps" not in cluster and num_workers(config) > 1


def is_chief(config: dict[str, Any] | None = None) -> bool:
    """The task that writes checkpoints and exports: the `chief` task, or
    worker 0 when the cluster has no chief; True outside a cluster."""
    config = tf_config() if config is None else config
    cluster = config.get("cluster") or {}
    task = config.get("task") or {}
    if not cluster:
        return True
    kind, index = task.get("type"), int(task.get("index", 0))
    if "chief" in cluster:
        return kind == "chief"
    return kind == "worker" and index == 0


def task_name(config: dict[str, Any] | None = None) -> str:
    """`"<type>-<index>"` of this task, e.g. `worker-1` (`chief-0` outside a cluster)."""
    config = tf_config() if config is None else config
    task = config.get("task") or {}
    return f"{task.get('type', 'chief')}-{int(task.get('index', 0))}"


_strategy = None


def strategy_from_environment():
    """`MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers,
    otherwise the default strategy. The multi-worker strategy is created once
    per process and then returned again.

    Call it first thing in a worker's program: TensorFlow refuses to set up
    the collectives once it has run anything (a RuntimeError saying so).

    A cluster with `ps` tasks needs a coordinator-driven training loop
    (`tf.distribute.ParameterServerStrategy`, see
    `ctrkit.training.ParameterServerTrainer`), which `ctrkit train` does not
    run: it refuses such a `TF_CONFIG` with a ValueError.
    """
    global _strategy
    import tensorflow as tf

    config = tf_config()
    cluster = config.get("cluster") or {}
    if "ps" in cluster:
        raise ValueError(
            "TF_CONFIG lists parameter servers: train with tf.distribute.ParameterServerStrategy and a "
            "ClusterCoordinator (see ctrkit.training.ParameterServerTrainer); ctrkit train runs "
            "synchronous data-parallel training only"
        )
    if not is_multi_worker(config):
        return tf.distribute.get_strategy()
    if _strategy is None:
        try:
            _strategy = tf.distribute.MultiWorkerMirroredStrategy()
        except RuntimeError as exc:
            raise RuntimeError(
                f"{exc}: with a TF_CONFIG cluster, call ctrkit.training.distribute.strategy_from_environment() (or build "
                "the estimator) before running any TensorFlow operation"
            ) from exc
    return _strategy
