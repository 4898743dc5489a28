"""What the S3 API's errors mean to the object store port."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError, ReadTimeoutError

from elearning_core.shared.storage import (
    InvalidParts,
    ObjectNotFound,
    PartTooSmall,
    StorageError,
    StorageUnavailable,
    UploadNotFound,
)


class RangeNotSatisfiable(StorageError):
    """A ranged read starting at or past the end (S3's 416): the port reads that as no bytes."""


_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_REFUSED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}
_BUSY = {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"}


def translate(exc: Exception, bucket: str, key: str | None = None, upload_id: str | None = None) -> Exception:
    """The port's error for a boto3 exception (or ``exc`` itself when it is not one)."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        operation = exc.operation_name
        if code == "NoSuchUpload":
            return UploadNotFound(key or "", upload_id or "")
        if code in _NOT_FOUND and key is not None:
            return ObjectNotFound(key)
        if code == "NoSuchBucket":
            return StorageError(
                f"the bucket {bucket!r} does not exist (create it first: docs/modules/video.md#storage)"
            )
        if code == "EntityTooSmall":
            return PartTooSmall(f"{operation}: {message}")
        if code in ("InvalidPart", "InvalidPartOrder"):
            return InvalidParts(f"{operation}: {message}")
        if code == "InvalidRange":
            return RangeNotSatisfiable(message)
        if code in _REFUSED:
            return StorageError(f"the object store refused {operation} on bucket {bucket!r}: {code}: {message}")
        if code in _BUSY or status >= 500:
            return StorageUnavailable(f"the object store failed {operation}: {code}: {message}")
        return StorageError(f"{operation} failed: {code}: {message}")
    if isinstance(exc, ConnectionError | HTTPClientError | ReadTimeoutError):
        return StorageUnavailable(f"the object store cannot be reached: {exc}")
    if isinstance(exc, BotoCoreError):
        return StorageError(f"the object store client failed: {exc}")
    return exc
