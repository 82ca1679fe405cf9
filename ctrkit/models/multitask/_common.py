"""Pieces the multi-task models share: task checks, expert gating, task towers."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import keras

from ...layers.core import PredictionLayer
from ...layers.dnn import DNN
from ...layers.utils import concat_func
from ..base import dense_logit
from ..ctr_model import CTRModel

TASK_TYPES = ("binary", "regression")


def check_tasks(task_types: Sequence[str], task_names: Sequence[str]) -> tuple[list[str], list[str]]:
    """Validate `task_types` and `task_names`; return them as lists."""
    if isinstance(task_names, str) or not isinstance(task_names, Sequence):
        raise ValueError(f"task_names must be a list of str, got {task_names!r}")
    if isinstance(task_types, str) or not isinstance(task_types, Sequence):
        raise ValueError(f"task_types must be a list of str, got {task_types!r}")
    task_names, task_types = list(task_names), list(task_types)
    if len(task_names) <= 1:
        raise ValueError(f"num_tasks must be greater than 1, got task_names={task_names!r}")
    if len(task_types) != len(task_names):
        raise ValueError(
            f"task_types and task_names must have the same length, got {len(task_types)} task_types "
            f"{task_types!r} and {len(task_names)} task_names {task_names!r}"
        )
    for task_type in task_types:
        if task_type not in TASK_TYPES:
            raise ValueError(f"task_types entries must be one of {TASK_TYPES}, got {task_type!r}")
    for task_name in task_names:
        if not isinstance(task_name, str) or not task_name or "/" in task_name:
            raise ValueError(f"task_names entries must be non-empty str without '/', got {task_name!r}")
    if len(set(task_names)) != len(task_names):
        raise ValueError(f"task_names must be unique, got {task_names!r}")
    return task_types, task_names


def check_count(name: str, value: int, minimum: int) -> int:
    """`value` must be an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class SeedSequence:
    """Distinct seeds for the model's sub-networks.

    Keras initialisers with the same integer seed draw the same values, so
    experts built from one seed would start identical; each network gets
    `seed`, `seed + 1`, ... in build order instead.
    """

    def __init__(self, seed: int):
        self._next = int(seed)

    def __call__(self) -> int:
        seed = self._next
        self._next += 1
        return seed


def mix_experts(experts: Sequence, gate_input, name: str, dnn_kwargs: Mapping, gate_dnn_hidden_units, seeds):
    """Weighted sum of the expert outputs, weights from a softmax gate.

    Each expert is `(batch, dim)`; the gate is a DNN on `gate_input` followed
    by a softmax over the experts. Returns `(batch, dim)`.
    """
    num_experts = len(experts)
    gate_hidden = DNN(gate_dnn_hidden_units, seed=seeds(), name=f"gate_{name}", **dnn_kwargs)(gate_input)
    gate = keras.layers.Dense(
        num_experts,
        use_bias=False,
        activation="softmax",
        kernel_initializer=keras.initializers.GlorotNormal(seeds()),
        name=f"gate_softmax_{name}",
    )(gate_hidden)
    dim = experts[0].shape[-1]
    stacked = concat_func([keras.layers.Reshape((1, dim))(e) for e in experts], axis=1)
    return keras.layers.Dot(axes=(1, 1), name=f"gate_mul_expert_{name}")([gate, stacked])


def task_towers(
    task_inputs: Sequence,
    task_types: Sequence[str],
    task_names: Sequence[str],
    tower_dnn_hidden_units,
    dnn_kwargs: Mapping,
    seeds,
) -> list:
    """One tower DNN, logit and `PredictionLayer(task_type, name=task_name)` per task."""
    outputs = []
    for task_input, task_type, task_name in zip(task_inputs, task_types, task_names):
        tower = DNN(tower_dnn_hidden_units, seed=seeds(), name=f"tower_{task_name}", **dnn_kwargs)(task_input)
        logit = dense_logit(tower, seeds(), name=f"logit_{task_name}")
        outputs.append(PredictionLayer(task_type, name=task_name)(logit))
    return outputs


def multitask_model(features: Mapping, outputs: Sequence, name: str) -> CTRModel:
    return CTRModel(inputs=list(features.values()), outputs=list(outputs), name=name)
