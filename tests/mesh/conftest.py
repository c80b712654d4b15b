"""Fixtures of the mesh tests: the network-namespace lab, boxes sharing content packs."""

from tests.mesh.lab import lab
from tests.mesh.pack_boxes import make_box

__all__ = ["lab", "make_box"]
