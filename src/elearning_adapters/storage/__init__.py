"""Object storage adapters: the local filesystem (the embedded default) and S3-compatible stores
(``elearning_adapters.storage.s3``, imported where chosen: it loads boto3)."""

from elearning_adapters.storage.local import LocalFileStorage

__all__ = ["LocalFileStorage"]
