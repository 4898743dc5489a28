"""The object store's settings, the adapter the composition root picks from them, and the key rules."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from elearning_adapters.billing.documents import BlobDocumentStore
from elearning_adapters.container import build_container
from elearning_adapters.settings import Settings
from elearning_adapters.storage import LocalFileStorage
from elearning_adapters.storage.s3 import S3ObjectStore
from elearning_core.shared.storage import (
    MIN_PART_SIZE,
    InvalidKey,
    InvalidParts,
    PartTooSmall,
    UploadedPart,
    check_completion,
    check_key,
    check_prefix,
)

S3 = {
    "storage_backend": "s3",
    "s3_endpoint_url": "http://127.0.0.1:8333",
    "s3_public_endpoint_url": "https://media.example.org/",
    "s3_bucket": "elearning-media",
    "s3_access_key_id": "key",
    "s3_secret_access_key": "secret",
    "s3_presign_expiry_seconds": 600,
}


def test_local_storage_is_the_embedded_default(tmp_path: Path) -> None:
    container = build_container(Settings.in_memory(media_dir=tmp_path))

    store = container.adapters.object_store()

    assert isinstance(store, LocalFileStorage)
    assert store is container.video.media_storage()  # one directory, one adapter
    assert store.root == tmp_path.resolve()


async def test_s3_settings_give_the_s3_adapter_configured_from_them(tmp_path: Path) -> None:
    container = build_container(Settings.in_memory(media_dir=tmp_path, **S3))

    store = container.adapters.object_store()

    assert isinstance(store, S3ObjectStore)
    config = store.config
    assert (config.bucket, config.endpoint_url, config.public_endpoint_url) == (
        "elearning-media",
        "http://127.0.0.1:8333",
        "https://media.example.org",
    )
    assert (config.access_key_id, config.secret_access_key) == ("key", "secret")
    assert config.path_style  # an endpoint is set: path style unless told otherwise
    assert config.presign_expiry == timedelta(minutes=10)
    assert isinstance(container.billing.store(), BlobDocumentStore)
    assert isinstance(container.video.media_storage(), LocalFileStorage)  # tus and ffmpeg: later work
    url = await store.presigned_url("videos/v/master.m3u8")  # signing is local work: no server needed
    assert url is not None
    assert url.startswith("https://media.example.org/elearning-media/videos/v/master.m3u8?")
    await store.aclose()


def test_path_style_defaults_to_virtual_hosts_on_aws() -> None:
    settings = Settings.in_memory(storage_backend="s3", s3_bucket="elearning-media")
    assert settings.resolved_s3_path_style is False
    assert Settings.in_memory(**{**S3, "s3_path_style": False}).resolved_s3_path_style is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"storage_backend": "s3"}, "needs ELEARNING_S3_BUCKET"),
        ({**S3, "s3_secret_access_key": None}, "go together"),
        ({**S3, "s3_endpoint_url": "ftp://store"}, "not an http"),
        ({**S3, "s3_cdn_base_url": "https://cdn.example.org/?x=1"}, "not an http"),
        ({**S3, "s3_bucket": "Not_A_Bucket"}, "s3_bucket"),
        ({**S3, "s3_part_size_bytes": MIN_PART_SIZE - 1}, "s3_part_size_bytes"),
        ({**S3, "s3_presign_expiry_seconds": 8 * 86_400}, "s3_presign_expiry_seconds"),
        ({"storage_backend": "ftp"}, "storage_backend"),
    ],
)
def test_bad_storage_settings_are_refused(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings.in_memory(**overrides)


@pytest.mark.parametrize("key", ["a", "videos/v/hls/master.m3u8", "billing/INV/2026/1.pdf", "a b/ü.txt", "x" * 1024])
def test_keys_that_stay_inside_are_taken(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["", "/a", "a/", "../a", "a/..", "a/./b", "a//b", "a\\b", "a\x00b", "é" * 513])
def test_keys_that_could_leave_the_store_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey):
        check_key(key)


def test_prefixes_may_end_in_a_slash_or_be_empty() -> None:
    assert [check_prefix(p) for p in ("", "a/", "a/b", "a/b/")] == ["", "a/", "a/b", "a/b/"]
    for bad in ("/", "../", "a//", "a/../"):
        with pytest.raises(InvalidKey):
            check_prefix(bad)


def test_completion_rules() -> None:
    big, small = UploadedPart(1, "t1", MIN_PART_SIZE), UploadedPart(2, "t2", 1)
    check_completion([big, small], [big, small])
    check_completion([small], [small])
    with pytest.raises(PartTooSmall):
        check_completion([small, UploadedPart(3, "t3", MIN_PART_SIZE)], [small, UploadedPart(3, "t3", MIN_PART_SIZE)])
    with pytest.raises(InvalidParts, match="at least one"):
        check_completion([], [big])
    with pytest.raises(InvalidParts, match="ascending"):
        check_completion([small, big], [big, small])
    with pytest.raises(InvalidParts, match="not uploaded"):
        check_completion([UploadedPart(1, "other", MIN_PART_SIZE)], [big])
