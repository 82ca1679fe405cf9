"""PLE: Progressive Layered Extraction.

Reference: Tang H, Liu J, Zhao M, et al. Progressive layered extraction
(PLE): a novel multi-task learning (MTL) model for personalized
recommendations. RecSys 2020. https://dl.acm.org/doi/10.1145/3383313.3412236
"""

from __future__ import annotations

from collections.abc import Sequence

from ...feature_column import build_input_features, input_from_feature_columns
from ...layers.dnn import DNN
from ...layers.utils import combined_dnn_input
from ._common import SeedSequence, check_count, check_tasks, mix_experts, multitask_model, task_towers


def PLE(
    dnn_feature_columns: Sequence,
    shared_expert_num: int = 1,
    specific_expert_num: int = 1,
    num_levels: int = 2,
    expert_dnn_hidden_units: Sequence[int] = (256,),
    tower_dnn_hidden_units: Sequence[int] = (64,),
    gate_dnn_hidden_units: Sequence[int] = (),
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task_types: Sequence[str] = ("binary", "binary"),
    task_names: Sequence[str] = ("ctr", "ctcvr"),
):
    """Instantiate the Progressive Layered Extraction architecture.

    `num_levels` Customized Gate Control (CGC) levels are stacked. In each
    level every task has `specific_expert_num` experts of its own and all
    tasks share `shared_expert_num` experts; a task's gate mixes its own and
    the shared experts. Every level but the last also has a shared gate that
    mixes all experts into the next level's shared input, so deeper levels
    separate task-specific from shared knowledge progressively. Each task
    ends in a tower DNN and its output, named after the task, `(batch, 1)`.

    Arguments:
        dnn_feature_columns: the features of the model.
        shared_expert_num: number of task-shared experts per level (>= 0).
        specific_expert_num: number of experts of each task per level (>= 0);
            together with `shared_expert_num` at least 1.
        num_levels: number of CGC levels (>= 1).
        expert_dnn_hidden_units: units of each layer of every expert DNN (may be empty).
        tower_dnn_hidden_units: units of each layer of every task tower (may be empty).
        gate_dnn_hidden_units: units of each hidden layer of every gate (may be empty).
        l2_reg_embedding, l2_reg_dnn: L2 strengths.
        seed: random seed.
        dnn_dropout: dropout probability in the DNNs, in [0, 1).
        dnn_activation: DNN activation.
        dnn_use_bn: batch normalisation before each activation.
        task_types: "binary" or "regression" per task (at least two tasks).
        task_names: the tasks' names, the names of the model's outputs.

    Returns:
        A Keras model with `len(task_names)` outputs.

    Example:
        >>> from ctrkit.feature_column import SparseFeat, DenseFeat
        >>> columns = [SparseFeat("user", 100, 4), DenseFeat("age", 1)]
        >>> model = PLE(columns, expert_dnn_hidden_units=(16,), tower_dnn_hidden_units=(8,))
        >>> model.output_names
        ['ctr', 'ctcvr']
    """
    task_types, task_names = check_tasks(task_types, task_names)
    shared_expert_num = check_count("shared_expert_num", shared_expert_num, 0)
    specific_expert_num = check_count("specific_expert_num", specific_expert_num, 0)
    if shared_expert_num + specific_expert_num < 1:
        raise ValueError(
            "each task needs at least one expert: shared_expert_num + specific_expert_num must be >= 1, "
            f"got {shared_expert_num} + {specific_expert_num}"
        )
    num_levels = check_count("num_levels", num_levels, 1)
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_kwargs = dict(activation=dnn_activation, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, use_bn=dnn_use_bn)
    seeds = SeedSequence(seed)
    num_tasks = len(task_names)

    def expert(x, name):
        return DNN(expert_dnn_hidden_units, seed=seeds(), name=name, **dnn_kwargs)(x)

    def cgc_level(inputs: list, level: str, is_last: bool) -> list:
        """inputs: one per task, then the shared one; returns the same (without the shared one when last)."""
        specific = [
            [expert(inputs[i], f"{level}task_{task_names[i]}_expert_specific_{j}") for j in range(specific_expert_num)]
            for i in range(num_tasks)
        ]
        shared = [expert(inputs[-1], f"{level}expert_shared_{k}") for k in range(shared_expert_num)]
        outputs = [
            mix_experts(
                specific[i] + shared, inputs[i], f"{level}specific_{task_names[i]}", dnn_kwargs,
                gate_dnn_hidden_units, seeds,
            )
            for i in range(num_tasks)
        ]
        if not is_last:
            all_experts = [e for task_experts in specific for e in task_experts] + shared
            outputs.append(
                mix_experts(all_experts, inputs[-1], f"{level}shared", dnn_kwargs, gate_dnn_hidden_units, seeds)
            )
        return outputs

    level_inputs = [dnn_input] * (num_tasks + 1)
    for level in range(num_levels):
        level_inputs = cgc_level(level_inputs, f"level_{level}_", is_last=level == num_levels - 1)
    outputs = task_towers(level_inputs, task_types, task_names, tower_dnn_hidden_units, dnn_kwargs, seeds)
    return multitask_model(features, outputs, "PLE")
