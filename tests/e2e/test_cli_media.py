"""``elearning media cors``: the bucket CORS a browser player needs, set on a real S3-compatible server
(SeaweedFS) and checked the way a browser checks it (a preflight from an allowed and a foreign origin)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok

if TYPE_CHECKING:
    from tests.seaweedfs import SeaweedS3

pytest_plugins = ["tests.seaweedfs"]  # the seaweedfs and s3_bucket fixtures

APP = "https://app.example.org"


@pytest.fixture
def s3_cli(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_url: str, seaweedfs: SeaweedS3, s3_bucket: str
) -> str:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    for name, value in {
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT_URL": seaweedfs.endpoint,
        "S3_BUCKET": s3_bucket,
        "S3_ACCESS_KEY_ID": seaweedfs.access_key,
        "S3_SECRET_ACCESS_KEY": seaweedfs.secret_key,
    }.items():
        monkeypatch.setenv(f"ELEARNING_{name}", value)
    seaweedfs.client().put_object(Bucket=s3_bucket, Key="videos/v/seg.ts", Body=b"segment")  # type: ignore[attr-defined]
    return f"{seaweedfs.endpoint}/{s3_bucket}/videos/v/seg.ts"


def preflight(url: str, origin: str) -> httpx.Response:
    headers = {"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "range"}
    return httpx.options(url, headers=headers, timeout=10.0)


def test_cors_lets_the_named_origins_read_and_no_other(s3_cli: str) -> None:
    assert ok("media", "cors").stdout.strip() == "no origin may read the bucket from a browser"

    shown = ok("media", "cors", "--origin", APP, "--origin", "http://localhost:5173/", "--max-age", "600")

    assert shown.stdout.split() == [APP, "http://localhost:5173"]
    allowed = preflight(s3_cli, APP)
    assert allowed.headers.get("access-control-allow-origin") == APP
    assert "GET" in allowed.headers.get("access-control-allow-methods", "")
    assert "range" in allowed.headers.get("access-control-allow-headers", "").lower()
    assert "Content-Range" in allowed.headers.get("access-control-expose-headers", "")
    assert allowed.headers.get("access-control-max-age") == "600"
    assert "access-control-allow-origin" not in preflight(s3_cli, "https://evil.example").headers
    assert ok("media", "cors").stdout.split() == [APP, "http://localhost:5173"]

    assert ok("media", "cors", "--clear").stdout.strip() == "no origin may read the bucket from a browser"
    assert "access-control-allow-origin" not in preflight(s3_cli, APP).headers


def test_bad_input_and_a_local_store_are_one_line_errors(
    s3_cli: str, monkeypatch: pytest.MonkeyPatch, seaweedfs: SeaweedS3
) -> None:
    refused = invoke("media", "cors", "--origin", "app.example.org")
    assert refused.exit_code == 1
    assert error_lines(refused) == ["error: not an origin (scheme://host[:port]): 'app.example.org'"]

    assert invoke("media", "cors", "--clear", "--origin", APP).exit_code == 1

    monkeypatch.setenv("ELEARNING_S3_BUCKET", "no-such-bucket")
    missing = invoke("media", "cors", "--origin", APP)
    assert missing.exit_code == 1
    (line,) = error_lines(missing)
    assert "bucket 'no-such-bucket' does not exist" in line

    monkeypatch.setenv("ELEARNING_STORAGE_BACKEND", "local")
    local = invoke("media", "cors")
    assert local.exit_code == 1
    assert "ELEARNING_STORAGE_BACKEND=local" in error_lines(local)[0]
