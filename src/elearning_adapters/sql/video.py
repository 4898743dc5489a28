"""The video tables and their repositories: videos (an aggregate, written at commit), and uploads,
captions and playback positions (plain records, written at once in the unit of work's transaction).

``SqlEnrollmentLookup`` reads the enrollment module's table with one
statement, the narrow read port playback authorization needs.
"""

from __future__ import annotations

import builtins
import functools
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import Uuid

from elearning_adapters.sql.engine import Database, UtcDateTime, dialect_insert, metadata
from elearning_core.shared.errors import Conflict
from elearning_core.shared.group_commit import latest_per_key
from elearning_core.video.model import (
    Caption,
    PlaybackPosition,
    Rendition,
    Video,
    VideoSource,
    VideoStatus,
    VideoUpload,
)
from elearning_core.video.ports import (
    CaptionRepository,
    EnrollmentLookup,
    PlaybackPositionRepository,
    UploadRepository,
    VideoRepository,
)

VIDEO_TABLES = ("playback_positions", "video_captions", "video_upload_parts", "video_uploads", "videos")
"""Children first (what a test empties)."""

videos = Table(
    "videos",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("course_id", Uuid, ForeignKey("courses.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    Column("failure_reason", String(1000), nullable=False),
    Column("source_key", String(500), nullable=True),
    Column("source_size", BigInteger, nullable=True),
    Column("source_sha256", String(64), nullable=True),
    Column("duration_seconds", Float, nullable=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    Column("renditions", JSON, nullable=False),
    Column("progress", Integer, nullable=False),
    Column("created_by", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("processing_started_at", UtcDateTime, nullable=True),
    Column("version", Integer, nullable=False),
)
Index("ix_videos_course_id_id", videos.c.course_id, videos.c.id)

video_uploads = Table(
    "video_uploads",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("video_id", Uuid, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("length", BigInteger, nullable=False),
    # Not "offset": a reserved word in SQL.
    Column("upload_offset", BigInteger, nullable=False),
    Column("expected_sha256", String(64), nullable=True),
    Column("created_by", Uuid, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    # The object-store upload path's state (sql/upload_parts.py): the multipart upload, the sizes of the
    # staged pieces after its parts, and the lease of the PATCH writing now.
    Column("multipart_id", String(1024), nullable=True),
    Column("staged", JSON, nullable=True),
    Column("lease_holder", String(64), nullable=True),
    Column("lease_until", UtcDateTime, nullable=True),
)
Index("ix_video_uploads_video_id", video_uploads.c.video_id)

video_captions = Table(
    "video_captions",
    metadata,
    Column("video_id", Uuid, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("language", String(35), nullable=False),
    Column("label", String(100), nullable=False),
    Column("storage_key", String(500), nullable=False),
    Column("size", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("video_id", "language"),
)

playback_positions = Table(
    "playback_positions",
    metadata,
    Column("user_id", Uuid, nullable=False),
    Column("video_id", Uuid, ForeignKey("videos.id", ondelete="CASCADE"), nullable=False),
    Column("position_seconds", Float, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("user_id", "video_id"),
)
Index("ix_playback_positions_video_id", playback_positions.c.video_id)


def _video_row(video: Video) -> dict[str, Any]:
    source = video.source
    return {
        "course_id": video.course_id,
        "title": video.title,
        "status": video.status.value,
        "failure_reason": video.failure_reason,
        "source_key": source.key if source else None,
        "source_size": source.size if source else None,
        "source_sha256": source.sha256 if source else None,
        "duration_seconds": video.duration_seconds,
        "width": video.width,
        "height": video.height,
        "renditions": [r.as_dict() for r in video.renditions],
        "progress": video.progress,
        "created_by": video.created_by,
        "created_at": video.created_at,
        "updated_at": video.updated_at,
        "processing_started_at": video.processing_started_at,
    }


def _video_from(row: Any) -> Video:
    source = VideoSource(row.source_key, row.source_size, row.source_sha256) if row.source_key is not None else None
    return Video(
        id=row.id,
        course_id=row.course_id,
        title=row.title,
        status=VideoStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        failure_reason=row.failure_reason,
        source=source,
        duration_seconds=row.duration_seconds,
        width=row.width,
        height=row.height,
        renditions=[Rendition.from_dict(r) for r in row.renditions or []],
        progress=row.progress,
        processing_started_at=row.processing_started_at,
        version=row.version,
    )


class SqlVideoRepository(VideoRepository):
    """Loads videos; the unit of work calls ``flush`` at commit, which writes each changed one with an
    optimistic check on ``version`` (the pipeline and an editor may touch one video at the same time)."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._seen: dict[uuid.UUID, Video] = {}
        self._stored: dict[uuid.UUID, dict[str, Any]] = {}
        self._new: set[uuid.UUID] = set()
        self._removed: set[uuid.UUID] = set()

    async def get(self, video_id: uuid.UUID) -> Video | None:
        if video_id in self._seen:
            return None if video_id in self._removed else self._seen[video_id]
        row = (await self._conn.execute(select(videos).where(videos.c.id == video_id))).first()
        if row is None:
            return None
        video = _video_from(row)
        self._seen[video.id] = video
        self._stored[video.id] = _video_row(video)
        return video

    def add(self, video: Video) -> None:
        self._seen[video.id] = video
        self._new.add(video.id)

    async def remove(self, video: Video) -> None:
        self._seen[video.id] = video
        self._removed.add(video.id)

    async def list(self, course_id: uuid.UUID | None, after: uuid.UUID | None, limit: int) -> builtins.list[Video]:
        query = select(videos).order_by(videos.c.id).limit(limit)
        if course_id is not None:
            query = query.where(videos.c.course_id == course_id)
        if after is not None:
            query = query.where(videos.c.id > after)
        return [_video_from(row) for row in await self._conn.execute(query)]

    def seen(self) -> Iterable[Video]:
        return self._seen.values()

    async def flush(self) -> None:
        for video_id, video in self._seen.items():
            if video_id in self._removed:
                if video_id not in self._new:
                    await self._conn.execute(delete(videos).where(videos.c.id == video_id))
                continue
            row = _video_row(video)
            if video_id in self._new:
                await self._conn.execute(insert(videos).values(id=video_id, version=1, **row))
                video.version = 1
            elif row != self._stored.get(video_id):
                result = await self._conn.execute(
                    update(videos)
                    .where(videos.c.id == video_id, videos.c.version == video.version)
                    .values(version=video.version + 1, **row)
                )
                if result.rowcount != 1:
                    raise Conflict("the video was changed by someone else at the same time; retry")
                video.version += 1
            self._stored[video_id] = row
        self._new.clear()


def _upload_from(row: Any) -> VideoUpload:
    return VideoUpload(
        id=row.id,
        video_id=row.video_id,
        length=row.length,
        offset=row.upload_offset,
        created_at=row.created_at,
        expires_at=row.expires_at,
        created_by=row.created_by,
        expected_sha256=row.expected_sha256,
    )


class SqlUploadRepository(UploadRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self, upload_id: uuid.UUID) -> VideoUpload | None:
        row = (await self._conn.execute(select(video_uploads).where(video_uploads.c.id == upload_id))).first()
        return None if row is None else _upload_from(row)

    async def add(self, upload: VideoUpload) -> None:
        await self._conn.execute(
            insert(video_uploads).values(
                id=upload.id,
                video_id=upload.video_id,
                length=upload.length,
                upload_offset=upload.offset,
                expected_sha256=upload.expected_sha256,
                created_by=upload.created_by,
                created_at=upload.created_at,
                expires_at=upload.expires_at,
            )
        )

    async def set_offset(self, upload_id: uuid.UUID, offset: int) -> None:
        await self._conn.execute(
            update(video_uploads).where(video_uploads.c.id == upload_id).values(upload_offset=offset)
        )

    async def delete(self, upload_id: uuid.UUID) -> None:
        await self._conn.execute(delete(video_uploads).where(video_uploads.c.id == upload_id))

    async def of_video(self, video_id: uuid.UUID) -> builtins.list[VideoUpload]:
        rows = await self._conn.execute(select(video_uploads).where(video_uploads.c.video_id == video_id))
        return [_upload_from(row) for row in rows]


class SqlCaptionRepository(CaptionRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def put(self, caption: Caption) -> bool:
        existed = await self.get(caption.video_id, caption.language) is not None
        values = {
            "video_id": caption.video_id,
            "language": caption.language,
            "label": caption.label,
            "storage_key": caption.storage_key,
            "size": caption.size,
            "updated_at": caption.updated_at,
        }
        statement = dialect_insert(self._conn, video_captions).values(**values)
        await self._conn.execute(
            statement.on_conflict_do_update(
                index_elements=["video_id", "language"],
                set_={k: statement.excluded[k] for k in ("label", "storage_key", "size", "updated_at")},
            )
        )
        return not existed

    async def get(self, video_id: uuid.UUID, language: str) -> Caption | None:
        row = (
            await self._conn.execute(
                select(video_captions).where(
                    video_captions.c.video_id == video_id, video_captions.c.language == language
                )
            )
        ).first()
        return None if row is None else Caption(**row._mapping)

    async def of_video(self, video_id: uuid.UUID) -> builtins.list[Caption]:
        rows = await self._conn.execute(
            select(video_captions).where(video_captions.c.video_id == video_id).order_by(video_captions.c.language)
        )
        return [Caption(**row._mapping) for row in rows]

    async def delete(self, video_id: uuid.UUID, language: str) -> bool:
        result = await self._conn.execute(
            delete(video_captions).where(video_captions.c.video_id == video_id, video_captions.c.language == language)
        )
        return bool(result.rowcount)


def _newer_wins(statement: Any) -> Any:
    """The upsert of a position: a delayed request from an older moment never rewinds it."""
    return statement.on_conflict_do_update(
        index_elements=["user_id", "video_id"],
        set_={"position_seconds": statement.excluded.position_seconds, "updated_at": statement.excluded.updated_at},
        where=playback_positions.c.updated_at <= statement.excluded.updated_at,
    )


_POSITION_COLUMNS = ("user_id", "video_id", "position_seconds", "updated_at")


@functools.cache
def _keep_statement(dialect: str) -> Any:
    """``keep``'s one statement, built once per dialect (the heartbeat path): the positions whose video
    still exists, upserted newer-wins. PostgreSQL takes a group as one array per column (``unnest``);
    SQLite runs the statement once per position."""
    types = {name: playback_positions.c[name].type for name in _POSITION_COLUMNS}
    if dialect == "postgresql":
        arrays = [bindparam(f"k_{name}", type_=postgresql.ARRAY(types[name])) for name in _POSITION_COLUMNS]
        given = func.unnest(*arrays).table_valued(*_POSITION_COLUMNS).render_derived()
        source = select(*(given.c[name] for name in _POSITION_COLUMNS)).join_from(
            given, videos, videos.c.id == given.c.video_id
        )
        return _newer_wins(postgresql.insert(playback_positions).from_select(list(_POSITION_COLUMNS), source))
    source = select(
        bindparam("k_user_id", type_=types["user_id"]),
        videos.c.id,
        bindparam("k_position_seconds", type_=types["position_seconds"]),
        bindparam("k_updated_at", type_=types["updated_at"]),
    ).where(videos.c.id == bindparam("k_video_id", type_=types["video_id"]))
    return _newer_wins(sqlite.insert(playback_positions).from_select(list(_POSITION_COLUMNS), source))


class SqlPlaybackPositionRepository(PlaybackPositionRepository):
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def save(self, position: PlaybackPosition) -> PlaybackPosition:
        statement = dialect_insert(self._conn, playback_positions).values(
            user_id=position.user_id,
            video_id=position.video_id,
            position_seconds=position.position_seconds,
            updated_at=position.updated_at,
        )
        await self._conn.execute(_newer_wins(statement))
        stored = await self.get(position.user_id, position.video_id)
        assert stored is not None
        return stored

    async def keep(self, positions: Sequence[PlaybackPosition]) -> None:
        latest = latest_per_key(((p.user_id, p.video_id), p.updated_at, p) for p in positions)
        if not latest:
            return
        rows = [
            {
                "user_id": p.user_id,
                "video_id": p.video_id,
                "position_seconds": p.position_seconds,
                "updated_at": p.updated_at,
            }
            for _, p in sorted(latest.items(), key=lambda item: item[0])
        ]
        statement = _keep_statement(self._conn.dialect.name)
        if self._conn.dialect.name == "postgresql":
            await self._conn.execute(
                statement, {f"k_{name}": [row[name] for row in rows] for name in _POSITION_COLUMNS}
            )
        else:
            await self._conn.execute(statement, [{f"k_{name}": value for name, value in row.items()} for row in rows])

    async def get(self, user_id: uuid.UUID, video_id: uuid.UUID) -> PlaybackPosition | None:
        row = (
            await self._conn.execute(
                select(playback_positions).where(
                    playback_positions.c.user_id == user_id, playback_positions.c.video_id == video_id
                )
            )
        ).first()
        return None if row is None else PlaybackPosition(**row._mapping)


class SqlEnrollmentLookup(EnrollmentLookup):
    """Whether an active or completed enrollment exists, read from the enrollment module's table."""

    _QUERY = text(
        "SELECT 1 FROM enrollments WHERE course_id = :c AND user_id = :u AND status IN ('active', 'completed')"
    ).bindparams(bindparam("c", type_=Uuid), bindparam("u", type_=Uuid))

    _SINCE = (
        text(
            "SELECT enrolled_at FROM enrollments WHERE course_id = :c AND user_id = :u AND status IN ('active', 'completed')"
        )
        .bindparams(bindparam("c", type_=Uuid), bindparam("u", type_=Uuid))
        .columns(enrolled_at=UtcDateTime)
    )

    def __init__(self, database: Database) -> None:
        self._db = database

    async def is_enrolled(self, user_id: uuid.UUID, course_id: uuid.UUID) -> bool:
        async with self._db.read() as conn:
            return (await conn.execute(self._QUERY, {"c": course_id, "u": user_id})).first() is not None

    _PG_SINCE = "SELECT enrolled_at FROM enrollments WHERE course_id = %s AND user_id = %s AND status IN ('active', 'completed')"

    async def enrolled_since(self, user_id: uuid.UUID, course_id: uuid.UUID) -> datetime | None:
        """One lookup on the (course_id, user_id) unique key: content gating's read on every learner's content
        read. On PostgreSQL through the plain psycopg pool, as the catalog reads it gates (a prepared
        statement; SQLAlchemy's async bridge would cost more CPU than the gate itself)."""
        if not self._db.is_sqlite:
            async with self._db.hot_read() as conn:
                found = await (await conn.execute(self._PG_SINCE, (course_id, user_id))).fetchone()
            return None if found is None else found[0].astimezone(UTC)
        async with self._db.read() as conn:
            row = (await conn.execute(self._SINCE, {"c": course_id, "u": user_id})).first()
        return None if row is None else row[0]
