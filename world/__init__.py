"""Synthetic multi-grained world: emoji objects on procedural backgrounds, with captions, object
labels and referring expressions in X-VLM's record formats."""

from .generate import generate_world

__all__ = ["generate_world"]
