"""Behaviour-sequence models: DIN, DIEN, DSIN and BST."""

from .bst import BST
from .dien import DIEN
from .din import DIN
from .dsin import DSIN

__all__ = ["BST", "DIEN", "DIN", "DSIN"]
