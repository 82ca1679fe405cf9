"""GRU over variable-length sequences, with DIEN's attentional variants."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ctrkit.layers.checks import check_bool, check_choice, check_int

GRU_TYPES = ("GRU", "AIGRU", "AGRU", "AUGRU")


@keras.saving.register_keras_serializable(package="ctrkit")
class AttentionalGRUCell(keras.layers.Layer):
    """One step of a GRU, optionally steered by an attention score.

    With reset gate `r`, update gate `u` and candidate `c`:

    * `GRU` / `AIGRU`: `h' = u * h + (1 - u) * c`.
    * `AGRU`: the score `a` replaces the update gate: `h' = (1 - a) * h + a * c`.
    * `AUGRU`: the score scales the update gate: with `u~ = a * (1 - u)`,
      `h' = (1 - u~) * h + u~ * c`, so a behaviour with score 0 leaves the
      state untouched.

    For `AGRU` and `AUGRU` the score is the last feature of the step input.
    The gate bias starts at 1, so the cell initially leans towards keeping its
    state.

    Args:
        units: size of the hidden state.
        gru_type: one of `'GRU'`, `'AIGRU'`, `'AGRU'`, `'AUGRU'`.
    """

    def __init__(self, units: int, gru_type: str = "GRU", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = check_int("units", units, 1)
        self.gru_type = check_choice("gru_type", gru_type, GRU_TYPES)
        self.state_size = self.units
        self.output_size = self.units

    @property
    def _uses_score(self) -> bool:
        return self.gru_type in ("AGRU", "AUGRU")

    def build(self, input_shape: tuple) -> None:
        input_dim = int(input_shape[-1]) - (1 if self._uses_score else 0)
        self.gate_kernel = self.add_weight(
            name="gate_kernel",
            shape=(input_dim + self.units, 2 * self.units),
            initializer="glorot_uniform",
        )
        self.gate_bias = self.add_weight(name="gate_bias", shape=(2 * self.units,), initializer="ones")
        self.candidate_kernel = self.add_weight(
            name="candidate_kernel",
            shape=(input_dim + self.units, self.units),
            initializer="glorot_uniform",
        )
        self.candidate_bias = self.add_weight(
            name="candidate_bias", shape=(self.units,), initializer="zeros"
        )

    def call(self, inputs: Any, states: Any) -> tuple:
        state = states[0] if isinstance(states, (list, tuple)) else states
        if self._uses_score:
            inputs, score = inputs[:, :-1], inputs[:, -1:]
        gates = ops.sigmoid(
            ops.matmul(ops.concatenate([inputs, state], axis=-1), self.gate_kernel) + self.gate_bias
        )
        reset, update = gates[:, : self.units], gates[:, self.units :]
        candidate = ops.tanh(
            ops.matmul(ops.concatenate([inputs, reset * state], axis=-1), self.candidate_kernel)
            + self.candidate_bias
        )
        if self.gru_type == "AGRU":
            new_state = (1.0 - score) * state + score * candidate
        elif self.gru_type == "AUGRU":
            step = score * (1.0 - update)
            new_state = (1.0 - step) * state + step * candidate
        else:
            new_state = update * state + (1.0 - update) * candidate
        return new_state, [new_state]

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"units": self.units, "gru_type": self.gru_type})
        return config


@keras.saving.register_keras_serializable(package="ctrkit")
class DynamicGRU(keras.layers.Layer):
    """GRU over right-padded sequences of different lengths (DIEN's
    interest extractor and interest evolving layers).

    Steps past a sequence's length do not update the state: the final state is
    the state at the true length, and the outputs at padded steps are zeros.

    * `'GRU'`: a plain GRU.
    * `'AIGRU'`: a plain GRU whose inputs are multiplied by the attention score
      first (when a score is given; DIEN's model may also scale the inputs
      itself and pass two inputs).
    * `'AGRU'`: the attention score replaces the update gate.
    * `'AUGRU'`: the attention score scales the update gate.

    Input shape:
        `[seq (batch_size, T, embedding_size), seq_len (batch_size, 1)]`, plus
        `att_score (batch_size, T, 1)` as a third input for `'AGRU'` and
        `'AUGRU'` (optional for `'AIGRU'`).

    Output shape:
        `(batch_size, T, num_units)` when `return_sequence=True`, else the
        final state `(batch_size, 1, num_units)`.

    Args:
        num_units: size of the hidden state; `None` uses `embedding_size`.
        gru_type: one of `'GRU'`, `'AIGRU'`, `'AGRU'`, `'AUGRU'`.
        return_sequence: return the outputs of every step, or only the final
            state.

    Example:
        >>> import numpy as np
        >>> seq = np.ones((2, 5, 4), "float32")
        >>> length = np.array([[3], [5]], "int32")
        >>> score = np.full((2, 5, 1), 0.5, "float32")
        >>> tuple(DynamicGRU(gru_type="AUGRU", return_sequence=False)([seq, length, score]).shape)
        (2, 1, 4)

    Reference:
        Zhou G, Mou N, Fan Y, et al. Deep Interest Evolution Network for
        Click-Through Rate Prediction. AAAI 2019. https://arxiv.org/abs/1809.03672
    """

    def __init__(
        self,
        num_units: int | None = None,
        gru_type: str = "GRU",
        return_sequence: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.num_units = check_int("num_units", num_units, 1, none_ok=True)
        self.gru_type = check_choice("gru_type", gru_type, GRU_TYPES)
        self.return_sequence = check_bool("return_sequence", return_sequence)
        # The lengths define the valid steps; an input mask is accepted and dropped.
        self.supports_masking = True

    def _check_shapes(self, input_shape: Any) -> tuple:
        needs_score = self.gru_type in ("AGRU", "AUGRU")
        allowed = (3,) if needs_score else (2, 3) if self.gru_type == "AIGRU" else (2,)
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) not in allowed
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            names = "[seq, seq_len, att_score]" if needs_score else "[seq, seq_len]"
            raise ValueError(f"DynamicGRU(gru_type={self.gru_type!r}) expects a list {names}")
        seq_shape = tuple(input_shape[0])
        if len(seq_shape) != 3 or seq_shape[-1] is None:
            raise ValueError(f"seq must be 3D (batch_size, T, embedding_size), got {seq_shape}")
        if len(input_shape) == 3 and tuple(input_shape[2])[1:] not in ((seq_shape[1], 1), (seq_shape[1],)):
            raise ValueError(
                f"att_score must have shape (batch_size, T, 1) matching seq {seq_shape}, "
                f"got {tuple(input_shape[2])}"
            )
        return seq_shape

    def build(self, input_shape: Any) -> None:
        seq_shape = self._check_shapes(input_shape)
        units = self.num_units or int(seq_shape[-1])
        self.cell = AttentionalGRUCell(units, self.gru_type, name="cell")
        self.rnn = keras.layers.RNN(
            self.cell,
            return_sequences=True,
            return_state=True,
            name="rnn",
        )
        extra = 1 if self.gru_type in ("AGRU", "AUGRU") else 0
        self.rnn.build((None, seq_shape[1], int(seq_shape[-1]) + extra))

    def call(self, inputs: Any, training: Any = None) -> Any:
        seq, seq_len = inputs[0], inputs[1]
        score = None
        if len(inputs) == 3:
            score = ops.cast(inputs[2], seq.dtype)
            if len(score.shape) == 2:
                score = ops.expand_dims(score, axis=-1)
        positions = ops.arange(ops.shape(seq)[1], dtype="int32")
        mask = positions[None, :] < ops.reshape(ops.cast(seq_len, "int32"), (-1, 1))

        if self.gru_type == "AIGRU" and score is not None:
            seq = seq * score
        elif self.gru_type in ("AGRU", "AUGRU"):
            seq = ops.concatenate([seq, score], axis=-1)
        outputs, state = self.rnn(seq, mask=mask, training=training)
        if self.return_sequence:
            # Zeroing here (rather than in the RNN) also leaves the output free
            # of the RNN's internal mask, as DeepCTR's layer outputs no mask.
            return ops.where(mask[:, :, None], outputs, ops.zeros_like(outputs))
        return ops.expand_dims(state, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        seq_shape = self._check_shapes(input_shape)
        units = self.num_units or seq_shape[-1]
        if self.return_sequence:
            return (seq_shape[0], seq_shape[1], units)
        return (seq_shape[0], 1, units)

    def compute_mask(self, inputs: Any, mask: Any = None) -> None:
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_units": self.num_units,
                "gru_type": self.gru_type,
                "return_sequence": self.return_sequence,
            }
        )
        return config
