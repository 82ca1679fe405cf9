"""MMOE: Multi-gate Mixture-of-Experts.

Reference: Ma J, Zhao Z, Yi X, et al. Modeling task relationships in
multi-task learning with multi-gate mixture-of-experts. KDD 2018.
https://dl.acm.org/doi/abs/10.1145/3219819.3220007
"""

from __future__ import annotations

from collections.abc import Sequence

from ...feature_column import build_input_features, input_from_feature_columns
from ...layers.dnn import DNN
from ...layers.utils import combined_dnn_input
from ._common import SeedSequence, check_count, check_tasks, mix_experts, multitask_model, task_towers


def MMOE(
    dnn_feature_columns: Sequence,
    num_experts: int = 3,
    expert_dnn_hidden_units: Sequence[int] = (256, 128),
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
    """Instantiate the Multi-gate Mixture-of-Experts multi-task architecture.

    `num_experts` expert DNNs read the shared embeddings. Each task has a gate
    (a DNN and a softmax over the experts) that weighs the experts' outputs
    for that task, then a tower DNN and its output. The model has one output
    per task, named after it, each `(batch, 1)`.

    Arguments:
        dnn_feature_columns: the features of the model.
        num_experts: number of experts, greater than 1.
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
        >>> model = MMOE(columns, 2, (16,), (8,), task_types=("binary", "regression"),
        ...              task_names=("click", "watch_time"))
        >>> model.output_names
        ['click', 'watch_time']
    """
    task_types, task_names = check_tasks(task_types, task_names)
    num_experts = check_count("num_experts", num_experts, 2)
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_kwargs = dict(activation=dnn_activation, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, use_bn=dnn_use_bn)
    seeds = SeedSequence(seed)
    experts = [
        DNN(expert_dnn_hidden_units, seed=seeds(), name=f"expert_{i}", **dnn_kwargs)(dnn_input)
        for i in range(num_experts)
    ]
    task_inputs = [
        mix_experts(experts, dnn_input, task_name, dnn_kwargs, gate_dnn_hidden_units, seeds)
        for task_name in task_names
    ]
    outputs = task_towers(task_inputs, task_types, task_names, tower_dnn_hidden_units, dnn_kwargs, seeds)
    return multitask_model(features, outputs, "MMOE")
