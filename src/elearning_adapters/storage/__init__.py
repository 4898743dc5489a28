"""Blob storage adapters (the local filesystem is the embedded default)."""

from elearning_adapters.storage.local import LocalFileStorage

__all__ = ["LocalFileStorage"]
