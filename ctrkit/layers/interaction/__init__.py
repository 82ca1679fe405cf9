"""Feature-interaction layers, one per module, under DeepCTR's names."""

from .afm_layer import AFMLayer
from .bi_interaction_pooling import BiInteractionPooling
from .bilinear_interaction import BilinearInteraction
from .bridge_module import BridgeModule
from .cin import CIN
from .cross_net import CrossNet
from .cross_net_mix import CrossNetMix
from .dot_interaction import DotInteraction
from .fefm_layer import FEFMLayer
from .fgcnn_layer import FGCNNLayer
from .field_wise_bi_interaction import FieldWiseBiInteraction
from .fm import FM
from .fwfm_layer import FwFMLayer
from .inner_product_layer import InnerProductLayer
from .interacting_layer import InteractingLayer
from .outter_product_layer import OutterProductLayer
from .senet_layer import SENETLayer

__all__ = [
    "AFMLayer",
    "BiInteractionPooling",
    "BilinearInteraction",
    "BridgeModule",
    "CIN",
    "CrossNet",
    "CrossNetMix",
    "DotInteraction",
    "FEFMLayer",
    "FGCNNLayer",
    "FM",
    "FieldWiseBiInteraction",
    "FwFMLayer",
    "InnerProductLayer",
    "InteractingLayer",
    "OutterProductLayer",
    "SENETLayer",
]
