"""Convolutional feature generation (FGCNN)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_int_list


@keras.saving.register_keras_serializable(package="ctrkit")
class FGCNNLayer(keras.layers.Layer):
    """Feature generation layer of FGCNN: convolution, max pooling and recombination.

    The field embeddings form a ``(field_size, embedding_size)`` image with one
    channel. Stage ``i`` applies a ``Conv2D(filters[i], (kernel_width[i], 1),
    padding="same", activation="tanh")`` along the field axis, a
    ``MaxPooling2D((pooling_width[i], 1))`` that shrinks the field axis from
    ``n`` to ``n // pooling_width[i]`` rows, and a tanh ``Dense`` layer that
    recombines the pooled maps into ``new_maps[i] * rows`` new feature
    embeddings. The next stage convolves the pooled maps of this one. The new
    features of all stages are concatenated along the field axis.

    Input shape:
        3D tensor ``(batch_size, field_size, embedding_size)``.

    Output shape:
        3D tensor ``(batch_size, new_feature_num, embedding_size)`` with
        ``new_feature_num = sum_i new_maps[i] * rows_i`` and
        ``rows_i = rows_{i-1} // pooling_width[i]``, ``rows_{-1} = field_size``.

    Args:
        filters: number of convolution filters per stage.
        kernel_width: convolution kernel height (over fields) per stage.
        new_maps: number of new feature maps generated per stage.
        pooling_width: max pooling height (over fields) per stage.
        All four must have the same length (the number of stages).

    Example:
        >>> import numpy as np
        >>> layer = FGCNNLayer(
        ...     filters=(4, 4), kernel_width=(3, 3), new_maps=(2, 2), pooling_width=(2, 2)
        ... )
        >>> tuple(layer(np.ones((2, 8, 5), "float32")).shape)  # 2*4 + 2*2 new features
        (2, 12, 5)

    Reference:
        Liu et al., Feature Generation by Convolutional Neural Network for
        Click-Through Rate Prediction, https://arxiv.org/pdf/1904.04447
    """

    def __init__(
        self,
        filters: Sequence[int] = (14, 16),
        kernel_width: Sequence[int] = (7, 7),
        new_maps: Sequence[int] = (3, 3),
        pooling_width: Sequence[int] = (2, 2),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.filters = tuple(check_int_list("filters", filters, 1, min_length=1))
        self.kernel_width = tuple(check_int_list("kernel_width", kernel_width, 1, min_length=1))
        self.new_maps = tuple(check_int_list("new_maps", new_maps, 1, min_length=1))
        self.pooling_width = tuple(check_int_list("pooling_width", pooling_width, 1, min_length=1))
        lengths = {len(self.filters), len(self.kernel_width), len(self.new_maps), len(self.pooling_width)}
        if len(lengths) != 1:
            raise ValueError(
                "`filters`, `kernel_width`, `new_maps` and `pooling_width` must have the same length, "
                f"got {len(self.filters)}, {len(self.kernel_width)}, {len(self.new_maps)} "
                f"and {len(self.pooling_width)}."
            )

    def _pooled_rows(self, field_size: int) -> list[int]:
        rows, pooled = field_size, []
        for width in self.pooling_width:
            rows //= width
            pooled.append(rows)
        return pooled

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "FGCNNLayer expects a 3D input (batch_size, field_size, embedding_size) with known "
                f"field_size and embedding_size, got shape {tuple(input_shape)}."
            )
        field_size, embedding_size = input_shape[1], input_shape[2]
        pooled_rows = self._pooled_rows(field_size)
        if pooled_rows[-1] < 1:
            raise ValueError(
                f"`pooling_width`={self.pooling_width} pools the {field_size} fields down to no row; "
                "use smaller pooling widths or fewer stages."
            )
        self.conv_layers, self.pooling_layers, self.dense_layers = [], [], []
        rows, channels = field_size, 1
        for filters, width, new_maps, pool, pooled in zip(
            self.filters, self.kernel_width, self.new_maps, self.pooling_width, pooled_rows
        ):
            conv = keras.layers.Conv2D(
                filters, (width, 1), padding="same", activation="tanh", data_format="channels_last"
            )
            conv.build((None, rows, embedding_size, channels))
            dense = keras.layers.Dense(pooled * embedding_size * new_maps, activation="tanh")
            dense.build((None, pooled * embedding_size * filters))
            self.conv_layers.append(conv)
            self.pooling_layers.append(
                keras.layers.MaxPooling2D((pool, 1), data_format="channels_last")
            )
            self.dense_layers.append(dense)
            rows, channels = pooled, filters

    def call(self, inputs):
        embedding_size = inputs.shape[-1]
        maps = ops.expand_dims(inputs, axis=-1)
        new_features = []
        for conv, pool, dense, filters, new_maps, rows in zip(
            self.conv_layers,
            self.pooling_layers,
            self.dense_layers,
            self.filters,
            self.new_maps,
            self._pooled_rows(inputs.shape[1]),
        ):
            maps = pool(conv(maps))
            generated = dense(ops.reshape(maps, (-1, rows * embedding_size * filters)))
            new_features.append(ops.reshape(generated, (-1, rows * new_maps, embedding_size)))
        return ops.concatenate(new_features, axis=1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, int, int]:
        new_feature_num = sum(
            maps * rows for maps, rows in zip(self.new_maps, self._pooled_rows(input_shape[1]))
        )
        return (input_shape[0], new_feature_num, input_shape[2])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": list(self.filters),
                "kernel_width": list(self.kernel_width),
                "new_maps": list(self.new_maps),
                "pooling_width": list(self.pooling_width),
            }
        )
        return config
