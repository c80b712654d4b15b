"""Fixtures of the mesh tests: the network-namespace lab."""

from tests.mesh.lab import lab

__all__ = ["lab"]
