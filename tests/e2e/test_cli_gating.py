"""``courses import/export`` carry content gating: preview lessons and section release dates."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli_helpers import error_lines, invoke, isolate_cli_env, ok

GATED_COURSE: dict[str, Any] = {
    "slug": "drip-fed",
    "title": "Drip-fed course",
    "status": "published",
    "sections": [
        {
            "title": "Week 1",
            "lessons": [
                {"title": "Welcome", "content": {"body_markdown": "Hello", "preview": True}},
                {"title": "Setup", "content": {"body_markdown": "Install it"}},
            ],
        },
        {"title": "Week 2", "release_after_days": 7, "lessons": [{"title": "Loops"}]},
        {"title": "Finale", "release_at": "2027-03-01T09:00:00+00:00", "lessons": [{"title": "Exam"}]},
    ],
}


def export_records() -> list[dict[str, Any]]:
    return json.loads(ok("courses", "export").stdout)["courses"]


def write(path: Path, courses: list[dict[str, Any]]) -> str:
    path.write_text(json.dumps({"courses": courses}), encoding="utf-8")
    return str(path)


def test_preview_and_release_dates_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    ok("courses", "import", write(tmp_path / "in.json", [GATED_COURSE]))
    [first] = export_records()
    week1, week2, finale = first["sections"]
    assert [lesson["content"]["preview"] for lesson in week1["lessons"]] == [True, False]
    assert (week1["release_at"], week1["release_after_days"]) == (None, None)
    assert (week2["release_at"], week2["release_after_days"]) == (None, 7)
    assert (finale["release_at"], finale["release_after_days"]) == ("2027-03-01T09:00:00Z", None)

    monkeypatch.setenv("ELEARNING_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'second.db'}")
    ok("db", "upgrade")
    ok("courses", "import", write(tmp_path / "again.json", [first]))
    assert export_records() == [first]


def test_a_section_with_both_release_kinds_names_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    isolate_cli_env(monkeypatch, tmp_path, sqlite_url)
    ok("db", "upgrade")
    both = {**GATED_COURSE, "sections": [{"title": "W", "release_at": "2027-01-01T00:00:00Z", "release_after_days": 1}]}
    result = invoke("courses", "import", write(tmp_path / "bad.json", [both]))
    assert result.exit_code != 0
    assert any("record 0 (drip-fed)" in line and "release" in line for line in error_lines(result)), result.stderr
