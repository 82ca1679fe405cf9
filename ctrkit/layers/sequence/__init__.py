"""Sequence layers (behaviour histories, multi-value features), under DeepCTR's names."""

from .attention_sequence_pooling_layer import AttentionSequencePoolingLayer
from .bias_encoding import BiasEncoding
from .bilstm import BiLSTM
from .dynamic_gru import DynamicGRU
from .kmax_pooling import KMaxPooling
from .local_activation_unit import LocalActivationUnit
from .position_encoding import PositionEncoding
from .sequence_pooling_layer import SequencePoolingLayer
from .transformer import Transformer
from .weighted_sequence_layer import WeightedSequenceLayer

__all__ = [
    "AttentionSequencePoolingLayer",
    "BiLSTM",
    "BiasEncoding",
    "DynamicGRU",
    "KMaxPooling",
    "LocalActivationUnit",
    "PositionEncoding",
    "SequencePoolingLayer",
    "Transformer",
    "WeightedSequenceLayer",
]
