"""Small layers and tensor helpers shared by the models.

`Hash` is the one layer here that needs TensorFlow itself: string hashing and
vocabulary lookup are the edge between raw feature values and the network, and
running them inside the graph is what keeps training and serving from skewing.

The models apply every operation on their symbolic tensors through a layer
(`ReduceSum`, `Split`, `SequenceMask`, `PaddingMask` or one of Keras's own),
never through a bare `keras.ops` call: Keras records such a call as an
anonymous operation that the HDF5 format DeepCTR users save models in cannot
rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ctrkit.layers.checks import check_bool, check_choice, check_int, check_number


def is_padding(x):
    """Where raw values are padding: 0 for integers, `""` or `"0"` for strings."""
    import tensorflow as tf

    if x.dtype == tf.string:
        return tf.logical_or(tf.equal(x, "0"), tf.equal(x, ""))
    return tf.equal(x, tf.zeros_like(x))


@keras.saving.register_keras_serializable(package="ctrkit")
class Hash(keras.layers.Layer):
    """Map raw values to integer ids in `[0, num_buckets)` inside the graph.

    Without `vocabulary_path` the value (cast to string first) is hashed with
    TensorFlow's fast fingerprint hash. With `mask_zero=True`, the values
    `"0"` and `""` (padding) map to id 0 and every other value to
    `[1, num_buckets)`. With `vocabulary_path`, values are looked up in the
    `value,key` CSV file (DeepCTR's format); unknown keys map to 0, so the
    file's ids should start at 1.

    Input: any shape, string or integer dtype. Output: same shape, int64 (as
    DeepCTR's `Hash`).

    Example:
    >>> import numpy as np
    >>> ids = Hash(10)(np.array([["a"], ["b"]]))
    >>> ids.shape
    TensorShape([2, 1])
    """

    def __init__(
        self,
        num_buckets: int,
        mask_zero: bool = False,
        vocabulary_path: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_buckets = num_buckets = check_int("num_buckets", num_buckets, 1)
        self.mask_zero = check_bool("mask_zero", mask_zero)
        if mask_zero and num_buckets < 2 and vocabulary_path is None:
            raise ValueError("`num_buckets` must be at least 2 when mask_zero=True.")
        self.vocabulary_path = vocabulary_path
        self._table = None
        if vocabulary_path is not None:
            import tensorflow as tf

            from ctrkit.data.readers import read_vocabulary

            vocabulary = read_vocabulary(vocabulary_path)
            initializer = tf.lookup.KeyValueTensorInitializer(
                tf.constant(list(vocabulary), tf.string), tf.constant(list(vocabulary.values()), tf.int64)
            )
            self._table = tf.lookup.StaticHashTable(initializer, default_value=0)

    def call(self, x):
        import tensorflow as tf

        if x.dtype != tf.string:
            x = tf.strings.as_string(x)
        if self._table is not None:
            ids = self._table.lookup(x)
        else:
            buckets = self.num_buckets - 1 if self.mask_zero else self.num_buckets
            ids = tf.strings.to_hash_bucket_fast(x, buckets)
            if self.mask_zero:
                ids = tf.where(is_padding(x), tf.zeros_like(ids), ids + 1)
        return tf.cast(ids, tf.int64)

    def compute_output_shape(self, input_shape):
        return input_shape

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="int64")

    def get_config(self):
        config = super().get_config()
        config.update(
            num_buckets=self.num_buckets,
            mask_zero=self.mask_zero,
            vocabulary_path=self.vocabulary_path,
        )
        return config


@keras.saving.register_keras_serializable(package="ctrkit")
class Linear(keras.layers.Layer):
    """The linear (logistic-regression) part of a CTR model.

    `mode=0`: input is the 1-d "embeddings" of the sparse features, summed.
    `mode=1`: input is the concatenated dense values, times a kernel.
    `mode=2`: input is `[sparse, dense]`, both of the above added.

    Output: `(batch, 1)`, plus a bias when `use_bias`.
    """

    def __init__(
        self, l2_reg: float = 0.0, mode: int = 0, use_bias: bool = False, seed: int = 1024, **kwargs
    ):
        super().__init__(**kwargs)
        self.l2_reg = check_number("l2_reg", l2_reg, 0)
        self.mode = check_choice("mode", mode, (0, 1, 2))
        self.use_bias = check_bool("use_bias", use_bias)
        self.seed = check_int("seed", seed)

    def build(self, input_shape):
        if self.use_bias:
            self.bias = self.add_weight(name="linear_bias", shape=(1,), initializer="zeros")
        if self.mode != 0:
            dense_shape = input_shape[-1] if self.mode == 1 else input_shape[1][-1]
            self.kernel = self.add_weight(
                name="linear_kernel",
                shape=(int(dense_shape), 1),
                initializer=keras.initializers.GlorotNormal(self.seed),
                regularizer=keras.regularizers.l2(self.l2_reg),
            )

    def call(self, inputs):
        if self.mode == 0:
            logit = ops.sum(inputs, axis=-1, keepdims=False)
        elif self.mode == 1:
            logit = ops.matmul(inputs, self.kernel)
        else:
            sparse, dense = inputs
            logit = ops.sum(sparse, axis=-1, keepdims=False) + ops.matmul(dense, self.kernel)
        if self.use_bias:
            logit = logit + self.bias
        return logit

    def compute_output_shape(self, input_shape):
        return (None, 1)

    def get_config(self):
        config = super().get_config()
        config.update(l2_reg=self.l2_reg, mode=self.mode, use_bias=self.use_bias, seed=self.seed)
        return config


@keras.saving.register_keras_serializable(package="ctrkit")
class NoMask(keras.layers.Layer):
    """Pass the input through and drop its Keras mask."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, x):
        # a new tensor: returning `x` itself would carry its Keras mask along.
        # `call` takes no `mask` argument, so Keras does not record the mask
        # (an anonymous `not_equal` operation) as an input of this layer.
        return ops.copy(x)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="ctrkit")
class PaddingMask(keras.layers.Layer):
    """The boolean mask of the values that are not padding (0 for integer
    ids, `""` or `"0"` for strings): what `Embedding(mask_zero=True)` masks
    after `Hash(mask_zero=True)`, as a layer output that can be passed as
    `mask=` explicitly.

    Example:
    >>> import numpy as np
    >>> np.asarray(PaddingMask()(np.array([["a", ""], ["0", "b"]]))).tolist()
    [[True, False], [False, True]]
    """

    def call(self, x):
        import tensorflow as tf

        return tf.logical_not(is_padding(x))

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="bool")


@keras.saving.register_keras_serializable(package="ctrkit")
class ReduceSum(keras.layers.Layer):
    """Sum over one axis.

    Example:
    >>> import numpy as np
    >>> np.asarray(ReduceSum(axis=1, keepdims=True)(np.ones((2, 3), "float32"))).tolist()
    [[3.0], [3.0]]
    """

    def __init__(self, axis: int = -1, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int("axis", axis)
        self.keepdims = check_bool("keepdims", keepdims)

    def call(self, x):
        return ops.sum(x, axis=self.axis, keepdims=self.keepdims)

    def compute_output_shape(self, input_shape):
        axis = self.axis % len(input_shape)
        if self.keepdims:
            return tuple(1 if i == axis else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i != axis)

    def get_config(self):
        config = super().get_config()
        config.update(axis=self.axis, keepdims=self.keepdims)
        return config


@keras.saving.register_keras_serializable(package="ctrkit")
class Split(keras.layers.Layer):
    """Split a tensor into `num_splits` equal parts along `axis`; returns a list.

    Example:
    >>> import numpy as np
    >>> [tuple(part.shape) for part in Split(3, axis=1)(np.ones((2, 3, 4), "float32"))]
    [(2, 1, 4), (2, 1, 4), (2, 1, 4)]
    """

    def __init__(self, num_splits: int, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.num_splits = check_int("num_splits", num_splits, 1)
        self.axis = check_int("axis", axis)

    def call(self, x):
        return ops.split(x, self.num_splits, axis=self.axis)

    def compute_output_shape(self, input_shape):
        axis = self.axis % len(input_shape)
        size = input_shape[axis]
        part = None if size is None else size // self.num_splits
        shape = tuple(part if i == axis else d for i, d in enumerate(input_shape))
        return [shape] * self.num_splits

    def get_config(self):
        config = super().get_config()
        config.update(num_splits=self.num_splits, axis=self.axis)
        return config


@keras.saving.register_keras_serializable(package="ctrkit")
class SequenceMask(keras.layers.Layer):
    """The boolean mask `(batch, maxlen)` of the first `length` positions of each
    row, from lengths of shape `(batch, 1)` or `(batch,)`.

    Example:
    >>> import numpy as np
    >>> np.asarray(SequenceMask(3)(np.array([[1], [3]]))).tolist()
    [[True, False, False], [True, True, True]]
    """

    def __init__(self, maxlen: int, **kwargs):
        super().__init__(**kwargs)
        self.maxlen = check_int("maxlen", maxlen, 1)

    def call(self, lengths):
        lengths = ops.reshape(ops.cast(lengths, "int32"), (-1, 1))
        return ops.arange(self.maxlen, dtype="int32")[None, :] < lengths

    def compute_output_spec(self, lengths):
        return keras.KerasTensor((lengths.shape[0], self.maxlen), dtype="bool")

    def get_config(self):
        config = super().get_config()
        config.update(maxlen=self.maxlen)
        return config


def concat_func(inputs: Sequence, axis: int = -1, mask: bool = False):
    """Concatenate a list of tensors; a single tensor is returned as is.

    With `mask=False` the inputs' Keras masks are dropped (`NoMask` on each
    input that carries one)."""
    inputs = list(inputs)
    if not mask:
        inputs = [NoMask()(x) if getattr(x, "_keras_mask", None) is not None else x for x in inputs]
    if len(inputs) == 1:
        return inputs[0]
    return keras.layers.Concatenate(axis=axis)(inputs)


def add_func(inputs: Sequence):
    """Add a list of same-shape tensors; a single tensor is returned as is."""
    inputs = list(inputs)
    if len(inputs) == 1:
        return inputs[0]
    return keras.layers.Add()(inputs)


def combined_dnn_input(sparse_embedding_list: Sequence, dense_value_list: Sequence):
    """Flatten the sparse embeddings and the dense values into one DNN input."""
    flat = []
    if sparse_embedding_list:
        flat.append(keras.layers.Flatten()(concat_func(sparse_embedding_list)))
    if dense_value_list:
        flat.append(keras.layers.Flatten()(concat_func(dense_value_list)))
    if not flat:
        raise ValueError("the DNN has no input: give at least one sparse or dense feature column")
    return concat_func(flat)


# DeepCTR's tensor helpers (`from deepctr.layers.utils import reduce_sum, softmax`),
# for code inside a layer's `call`. `name` and `reduction_indices` are
# TensorFlow 1's, taken and ignored as TensorFlow 2 does (`axis` is the one
# that counts). Applied to a model's symbolic tensors they become anonymous
# operations that HDF5 files cannot rebuild: there, use a layer (`ReduceSum`).


def reduce_sum(input_tensor, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """Sum over `axis` (all axes when None).

    Example:
        >>> import numpy as np
        >>> tuple(reduce_sum(np.ones((2, 3)), axis=1, keep_dims=True).shape)
        (2, 1)
    """
    return ops.sum(input_tensor, axis=axis, keepdims=keep_dims)


def reduce_mean(input_tensor, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """Mean over `axis` (all axes when None)."""
    return ops.mean(input_tensor, axis=axis, keepdims=keep_dims)


def reduce_max(input_tensor, axis=None, keep_dims=False, name=None, reduction_indices=None):
    """Maximum over `axis` (all axes when None)."""
    return ops.max(input_tensor, axis=axis, keepdims=keep_dims)


def div(x, y, name=None):
    """`x / y`, element-wise."""
    return ops.divide(x, y)


def softmax(logits, dim=-1, name=None):
    """Softmax over axis `dim`."""
    return ops.softmax(logits, axis=dim)
