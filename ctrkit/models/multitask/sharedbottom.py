"""SharedBottom: hard parameter sharing for multi-task learning.

Reference: Ruder S. An overview of multi-task learning in deep neural
networks. arXiv preprint arXiv:1706.05098, 2017. https://arxiv.org/abs/1706.05098
"""

from __future__ import annotations

from collections.abc import Sequence

from ...feature_column import build_input_features, input_from_feature_columns
from ...layers.dnn import DNN
from ...layers.utils import combined_dnn_input
from ._common import SeedSequence, check_tasks, multitask_model, task_towers


def SharedBottom(
    dnn_feature_columns: Sequence,
    bottom_dnn_hidden_units: Sequence[int] = (256, 128),
    tower_dnn_hidden_units: Sequence[int] = (64,),
    l2_reg_embedding: float = 1e-5,
    l2_reg_dnn: float = 0,
    seed: int = 1024,
    dnn_dropout: float = 0,
    dnn_activation: str = "relu",
    dnn_use_bn: bool = False,
    task_types: Sequence[str] = ("binary", "binary"),
    task_names: Sequence[str] = ("ctr", "ctcvr"),
):
    """Instantiate the SharedBottom multi-task architecture.

    All tasks share the embeddings and a bottom DNN; each task has its own
    tower DNN and output. The model has one output per task, named after it:
    `(batch, 1)` probabilities for "binary" tasks, values for "regression".

    Arguments:
        dnn_feature_columns: the features of the model.
        bottom_dnn_hidden_units: units of each layer of the shared bottom DNN (may be empty).
        tower_dnn_hidden_units: units of each layer of every task tower (may be empty).
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
        >>> columns = [SparseFeat("user", 100, 4), DenseFeat("price", 1)]
        >>> model = SharedBottom(columns, (16,), (8,), task_names=("click", "buy"))
        >>> model.output_names
        ['click', 'buy']
    """
    task_types, task_names = check_tasks(task_types, task_names)
    features = build_input_features(dnn_feature_columns)
    sparse_embedding_list, dense_value_list = input_from_feature_columns(
        features, dnn_feature_columns, l2_reg_embedding, seed
    )
    dnn_input = combined_dnn_input(sparse_embedding_list, dense_value_list)
    dnn_kwargs = dict(activation=dnn_activation, l2_reg=l2_reg_dnn, dropout_rate=dnn_dropout, use_bn=dnn_use_bn)
    seeds = SeedSequence(seed)
    shared_bottom = DNN(bottom_dnn_hidden_units, seed=seeds(), name="shared_bottom", **dnn_kwargs)(dnn_input)
    outputs = task_towers(
        [shared_bottom] * len(task_names), task_types, task_names, tower_dnn_hidden_units, dnn_kwargs, seeds
    )
    return multitask_model(features, outputs, "SharedBottom")
