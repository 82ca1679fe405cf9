"""The model zoo, by DeepCTR's names: `from ctrkit.models import DeepFM`.

Models are imported on first use, so importing one does not build the others.
"""

from __future__ import annotations

import importlib

_MODULES = {
    "AFM": "afm",
    "AutoInt": "autoint",
    "CCPM": "ccpm",
    "DCN": "dcn",
    "DCNMix": "dcnmix",
    "DeepFEFM": "deepfefm",
    "DeepFM": "deepfm",
    "DIFM": "difm",
    "DLRM": "dlrm",
    "EDCN": "edcn",
    "FGCNN": "fgcnn",
    "FiBiNET": "fibinet",
    "FLEN": "flen",
    "FNN": "fnn",
    "FwFM": "fwfm",
    "IFM": "ifm",
    "MLR": "mlr",
    "NFM": "nfm",
    "ONN": "onn",
    "PNN": "pnn",
    "WDL": "wdl",
    "xDeepFM": "xdeepfm",
    "DIN": "sequence.din",
    "DIEN": "sequence.dien",
    "DSIN": "sequence.dsin",
    "BST": "sequence.bst",
    "SharedBottom": "multitask.sharedbottom",
    "ESMM": "multitask.esmm",
    "MMOE": "multitask.mmoe",
    "PLE": "multitask.ple",
}

__all__ = sorted(_MODULES)


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'ctrkit.models' has no attribute {name!r}")
    model = getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    globals()[name] = model
    return model


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
