"""Every ctrkit layer, under DeepCTR's names: `from ctrkit.layers import CIN`.

All layers are registered with Keras (package "ctrkit"), so models using them
reload with `keras.models.load_model` without `custom_objects`; the
`custom_objects` dict is kept for code written for DeepCTR. It also holds the
model class (`ctrkit.models.CTRModel`), so that DeepCTR's
`load_model("DeepFM.h5", custom_objects)` works in a process that has
imported nothing else of ctrkit.
"""

from ..models import ctr_model
from .activation import Dice
from .core import PredictionLayer, RegulationModule
from .dnn import DNN
from .embedding import EmbeddingTable
from .interaction import (
    CIN,
    FM,
    AFMLayer,
    BiInteractionPooling,
    BilinearInteraction,
    BridgeModule,
    CrossNet,
    CrossNetMix,
    DotInteraction,
    FEFMLayer,
    FGCNNLayer,
    FieldWiseBiInteraction,
    FwFMLayer,
    InnerProductLayer,
    InteractingLayer,
    OutterProductLayer,
    SENETLayer,
)
from .normalization import LayerNormalization
from .sequence import (
    AttentionSequencePoolingLayer,
    BiasEncoding,
    BiLSTM,
    DynamicGRU,
    KMaxPooling,
    LocalActivationUnit,
    PositionEncoding,
    SequencePoolingLayer,
    Transformer,
    WeightedSequenceLayer,
)
from .transforms import Log1p, Rescale
from .utils import Hash, Linear, NoMask, PaddingMask, ReduceSum, SequenceMask, Split

custom_objects = {
    name: obj
    for name, obj in dict(globals()).items()
    if isinstance(obj, type) and not name.startswith("_")
}
__all__ = sorted(custom_objects) + ["custom_objects"]
custom_objects[ctr_model.CTRModel.__name__] = ctr_model.CTRModel
