"""Stacked bidirectional LSTM with optional residual connections."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_choice, check_int, check_number

MERGE_MODES = ("fw", "bw", "sum", "mul", "concat", "ave", None)


@keras.saving.register_keras_serializable(package="ctrkit")
class BiLSTM(keras.layers.Layer):
    """A stack of bidirectional LSTM layers, residual in the last layers.

    The forward and the backward direction each run `layers` stacked LSTMs
    (the backward outputs are put back in time order after every layer). In
    the last `res_layers` layers each direction adds its layer input to its
    layer output. The two directions are merged at the end. A Keras mask on
    the input is honoured by every LSTM and passed on.

    Input shape:
        `(batch_size, timesteps, input_dim)`.

    Output shape:
        `(batch_size, timesteps, units)`; `(batch_size, timesteps, 2 * units)`
        for `merge_mode='concat'`; a list of the forward and backward outputs
        for `merge_mode=None`.

    Args:
        units: positive integer, size of each LSTM's output.
        layers: positive integer, number of stacked LSTM layers.
        res_layers: integer in `[0, layers]`, how many of the last layers have
            a residual connection. A residual first layer needs
            `input_dim == units`.
        dropout_rate: float in `[0, 1)`, dropout on the inputs of every LSTM.
        merge_mode: how to combine the two directions: one of `'fw'`, `'bw'`,
            `'sum'`, `'mul'`, `'concat'`, `'ave'` or `None` (return both).

    Example:
        >>> import numpy as np
        >>> tuple(BiLSTM(4, layers=2, res_layers=1)(np.ones((2, 5, 4), "float32")).shape)
        (2, 5, 4)

    Reference:
        Feng Y, Lv F, Shen W, et al. Deep Session Interest Network for
        Click-Through Rate Prediction. IJCAI 2019 (session interest
        interacting layer). https://arxiv.org/abs/1905.06482
    """

    def __init__(
        self,
        units: int,
        layers: int = 2,
        res_layers: int = 0,
        dropout_rate: float = 0.2,
        merge_mode: str | None = "ave",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.units = units = check_int("units", units, 1)
        self.layers = layers = check_int("layers", layers, 1)
        self.res_layers = check_int("res_layers", res_layers, 0)
        if self.res_layers > layers:
            raise ValueError(f"`res_layers` must be at most layers ({layers}), got {res_layers}.")
        self.dropout_rate = dropout_rate = check_number("dropout_rate", dropout_rate, 0, 1)
        self.merge_mode = check_choice("merge_mode", merge_mode, MERGE_MODES)
        self.supports_masking = True

        def lstm(direction: str, index: int) -> keras.layers.LSTM:
            return keras.layers.LSTM(
                units,
                dropout=dropout_rate,
                bias_initializer="ones",
                return_sequences=True,
                go_backwards=direction == "bw",
                zero_output_for_mask=True,
                name=f"{direction}_lstm_{index}",
            )

        self.fw_lstm = [lstm("fw", i) for i in range(layers)]
        self.bw_lstm = [lstm("bw", i) for i in range(layers)]

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                f"BiLSTM expects a 3D input (batch_size, timesteps, input_dim), got {tuple(input_shape)}"
            )
        input_dim = int(input_shape[-1])
        if self.res_layers == self.layers and input_dim != self.units:
            raise ValueError(
                f"a residual first layer needs input_dim == units, got input_dim {input_dim} and "
                f"units {self.units}; lower res_layers or change units"
            )
        for i in range(self.layers):
            shape = (input_shape[0], input_shape[1], input_dim if i == 0 else self.units)
            self.fw_lstm[i].build(shape)
            self.bw_lstm[i].build(shape)

    def call(self, inputs: Any, mask: Any = None, training: Any = None) -> Any:
        input_fw = input_bw = inputs
        for i in range(self.layers):
            output_fw = self.fw_lstm[i](input_fw, mask=mask, training=training)
            output_bw = ops.flip(self.bw_lstm[i](input_bw, mask=mask, training=training), axis=1)
            if i >= self.layers - self.res_layers:
                output_fw = output_fw + input_fw
                output_bw = output_bw + input_bw
            input_fw, input_bw = output_fw, output_bw

        if self.merge_mode == "fw":
            return input_fw
        if self.merge_mode == "bw":
            return input_bw
        if self.merge_mode == "concat":
            return ops.concatenate([input_fw, input_bw], axis=-1)
        if self.merge_mode == "sum":
            return input_fw + input_bw
        if self.merge_mode == "ave":
            return (input_fw + input_bw) / 2.0
        if self.merge_mode == "mul":
            return input_fw * input_bw
        return [input_fw, input_bw]

    def compute_output_shape(self, input_shape: tuple) -> Any:
        shape = (input_shape[0], input_shape[1], self.units)
        if self.merge_mode == "concat":
            return (input_shape[0], input_shape[1], 2 * self.units)
        if self.merge_mode is None:
            return [shape, shape]
        return shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        if self.merge_mode is None:
            return [mask, mask]
        return mask

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "layers": self.layers,
                "res_layers": self.res_layers,
                "dropout_rate": self.dropout_rate,
                "merge_mode": self.merge_mode,
            }
        )
        return config
