"""Compressed Interaction Network of xDeepFM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from ctrkit.layers.activation import activation_layer, serialize_activation
from ctrkit.layers.checks import check_bool, check_int, check_int_list, check_number


@keras.saving.register_keras_serializable(package="ctrkit")
class CIN(keras.layers.Layer):
    """Compressed Interaction Network (CIN) of xDeepFM: explicit, vector-wise
    feature interactions of growing degree.

    With ``X^0`` the ``(F, E)`` input and ``X^k`` the ``(H_k, E)`` hidden
    feature maps, layer ``k`` forms the outer products of the rows of ``X^0``
    and ``X^{k-1}`` per embedding dimension and compresses them with
    ``layer_size[k]`` filters:
    ``Z[h, e] = act(sum_{i, j} W^k[i * H_{k-1} + j, h] * X^0[i, e] * X^{k-1}[j, e] + b^k[h])``.
    With ``split_half``, every layer but the last passes half of its maps
    (the first ``layer_size[k] // 2``) on to the next layer and the other half
    to the output; without it, all maps go both ways. The output maps are
    sum-pooled over the embedding axis and concatenated. The design follows
    the reference code of the paper's authors
    (https://github.com/Leavingseason/xDeepFM).

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        2D tensor ``(batch_size, featuremap_num)`` with
        ``featuremap_num = sum(layer_size[:-1]) // 2 + layer_size[-1]`` if
        ``split_half``, else ``sum(layer_size)``.

    Args:
        layer_size: List of positive integers, the number of feature maps of
            each layer. With ``split_half`` all but the last must be even.
        activation: Activation of the feature maps: a Keras activation name,
            ``"dice"`` or a ``keras.layers.Layer`` subclass.
        split_half: bool. Whether half of the feature maps of each hidden
            layer connect to the output (and the other half to the next
            layer) instead of all of them to both.
        l2_reg: Float >= 0, L2 regularisation strength of the filters.
        seed: Integer seed of the filter initializers.

    Example:
        >>> import numpy as np
        >>> tuple(CIN(layer_size=(8, 6))(np.ones((2, 5, 4), "float32")).shape)
        (2, 10)

    Reference:
        Lian J, Zhou X, Zhang F, et al. xDeepFM: Combining Explicit and
        Implicit Feature Interactions for Recommender Systems. KDD 2018.
        https://arxiv.org/pdf/1803.05170.pdf
    """

    def __init__(
        self,
        layer_size: Sequence[int] = (128, 128),
        activation: str | type = "relu",
        split_half: bool = True,
        l2_reg: float = 1e-5,
        seed: int = 1024,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.layer_size = check_int_list("layer_size", layer_size, 1, min_length=1)
        self.split_half = check_bool("split_half", split_half)
        if self.split_half and any(size % 2 for size in self.layer_size[:-1]):
            raise ValueError(
                f"`layer_size` must hold even numbers except for the last layer when split_half=True, "
                f"got {layer_size!r}."
            )
        self.activation = activation
        self.l2_reg = check_number("l2_reg", l2_reg, 0)
        self.seed = check_int("seed", seed)
        self.activation_layers = [activation_layer(activation) for _ in self.layer_size]

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "CIN expects a 3D input (batch_size, field_size, embedding_size) with known field and "
                f"embedding sizes, got shape {tuple(input_shape)}."
            )
        field_size, embedding_size = int(input_shape[1]), int(input_shape[2])
        rows, cols = np.triu_indices(field_size)
        fields = np.eye(field_size, dtype=self.compute_dtype)
        self._pair_rows, self._pair_cols = fields[rows], fields[cols]
        self._pair_index = (rows * field_size + cols).astype("int32")
        self._pair_scale = np.where(rows == cols, 0.5, 1.0).astype(self.compute_dtype)[:, None]
        regularizer = keras.regularizers.L2(self.l2_reg) if self.l2_reg > 0 else None
        # Number of feature maps entering each layer: X^0 first, then the
        # part of each layer's output that is passed on.
        self._field_nums = [field_size]
        self.filters = []
        self.bias = []
        last = len(self.layer_size) - 1
        for i, size in enumerate(self.layer_size):
            self.filters.append(
                self.add_weight(
                    name=f"filter{i}",
                    shape=(field_size * self._field_nums[-1], size),
                    initializer=keras.initializers.GlorotUniform(seed=self.seed + i),
                    regularizer=regularizer,
                )
            )
            self.bias.append(self.add_weight(name=f"bias{i}", shape=(size,), initializer="zeros"))
            self.activation_layers[i].build((input_shape[0], embedding_size, size))
            self._field_nums.append(size // 2 if self.split_half and i != last else size)

    def call(self, inputs, training=None):
        # Field-major layout: a feature map is one row of batch * E values,
        # so the outer products, the split and the pooling work on whole rows
        # and each layer is a single (maps, products) @ (products, B * E)
        # matrix product.
        field_size, embedding_size = inputs.shape[1], inputs.shape[2]
        x0 = ops.reshape(ops.transpose(inputs, (1, 0, 2)), (field_size, -1))
        hidden = x0
        pooled = []
        last = len(self.layer_size) - 1
        for i, size in enumerate(self.layer_size):
            if i == 0:
                # X^0 with itself: X^0[a] * X^0[b] == X^0[b] * X^0[a], so each
                # unordered pair is formed once and meets the sum of its two
                # filter rows, which halves the first layer's arithmetic.
                # (The pairs are picked by one-hot matrix products: their
                # gradient is a matrix product too, far cheaper than the
                # scatter-add a gather's gradient needs.)
                products = ops.matmul(self._pair_rows, x0) * ops.matmul(self._pair_cols, x0)
                square = ops.reshape(self.filters[0], (field_size, field_size, size))
                both = ops.reshape(square + ops.transpose(square, (1, 0, 2)), (field_size * field_size, size))
                filters = ops.take(both, self._pair_index, axis=0) * self._pair_scale
            else:
                products = ops.expand_dims(x0, 1) * ops.expand_dims(hidden, 0)
                products = ops.reshape(products, (field_size * self._field_nums[i], -1))
                filters = self.filters[i]
            maps = ops.matmul(ops.transpose(filters), products) + self.bias[i][:, None]  # (size, B * E)
            maps = self._activate(i, maps, embedding_size, training)
            if self.split_half and i != last:
                hidden, direct = ops.split(maps, 2, axis=0)
            else:
                hidden, direct = maps, maps
            pooled.append(ops.sum(ops.reshape(direct, (direct.shape[0], -1, embedding_size)), axis=-1))
        return ops.transpose(ops.concatenate(pooled, axis=0))

    def _activate(self, i: int, maps, embedding_size: int, training):
        layer = self.activation_layers[i]
        if isinstance(layer, keras.layers.Activation):  # elementwise: any layout will do
            return layer(maps)
        # Layers with per-map weights (Dice, PReLU) see (batch, E, maps).
        size = maps.shape[0]
        batch_major = ops.reshape(ops.transpose(maps), (-1, embedding_size, size))
        return ops.transpose(ops.reshape(layer(batch_major, training=training), (-1, size)))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.split_half:
            featuremap_num = sum(self.layer_size[:-1]) // 2 + self.layer_size[-1]
        else:
            featuremap_num = sum(self.layer_size)
        return (input_shape[0], featuremap_num)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "layer_size": list(self.layer_size),
                "activation": serialize_activation(self.activation),
                "split_half": self.split_half,
                "l2_reg": self.l2_reg,
                "seed": self.seed,
            }
        )
        return config
