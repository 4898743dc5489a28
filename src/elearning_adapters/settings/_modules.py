"""The media, notification, scheduler, discussion, recommendation and analytics reports' settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings


class ModuleSettings(BaseSettings):
    """The media, notification, scheduler, discussion, recommendation and analytics reports' settings: one group of ``Settings`` (``ELEARNING_*``)."""

    media_dir: Path | None = Field(
        default=None, description="Where videos, uploads and captions are stored; default: the data directory's media/"
    )
    video_max_upload_bytes: int = Field(
        default=5 * 1024**3, ge=1, description="Largest video upload accepted (tus Upload-Length); larger gets 413"
    )
    upload_lease_seconds: float = Field(
        default=120,
        gt=0,
        le=3600,
        description="Object-store tus uploads: how long a PATCH's hold on its upload lasts without a renewal (a "
        "PATCH renews it after a part once half of it has passed; a PATCH of a dead process is taken over after it)",
    )
    upload_orphan_hours: float = Field(
        default=25,
        gt=0,
        le=24 * 30,
        description="Object-store tus uploads: multipart uploads and staged pieces no live upload holds are aborted "
        "and deleted by the job `video.uploads-cleanup` once this old",
    )
    upload_cleanup_minutes: float = Field(
        default=60, gt=0, le=24 * 60, description="Period of the job `video.uploads-cleanup`"
    )
    playback_url_ttl_seconds: float = Field(
        default=3600, gt=0, le=7 * 86_400, description="Lifetime of a signed playback URL"
    )
    playback_media_url_margin_seconds: float = Field(
        default=900,
        ge=0,
        le=86_400,
        description="With an object store (S3): the store URLs of a playlist's segments, the thumbnail and the "
        "captions live the video's duration plus this, and at least ELEARNING_S3_PRESIGN_EXPIRY_SECONDS",
    )
    transcode_timeout_seconds: float = Field(
        default=3600, gt=0, description="Bound on probing and transcoding one video; beyond it the video fails"
    )
    notification_send_seconds: float = Field(
        default=5,
        gt=0,
        le=3600,
        description="Period of the jobs `notifications.send` (due mail) and `notifications.fan-out` (course-wide "
        "notifications written to each learner in batches)",
    )
    notification_max_attempts: int = Field(
        default=8, ge=1, le=50, description="Tries of a notification mail before it is recorded failed"
    )
    notification_reminder_hours: int = Field(
        default=24, ge=1, le=720, description="How long before a quiz closes its learners get the due-date reminder"
    )
    notification_stream_max_seconds: float = Field(
        default=900, gt=0, le=86_400, description="Longest life of one SSE notification stream (the browser reconnects)"
    )
    notification_stream_heartbeat_seconds: float = Field(
        default=15, gt=0, le=300, description="Interval of the SSE stream's heartbeat comments"
    )
    attempt_sweep_seconds: float = Field(
        default=60,
        ge=0,
        le=86_400,
        description="Period of the scheduled job `assessment.expire-attempts`, which submits quiz attempts whose "
        "time ran out (0: never by itself; `elearning jobs run assessment.expire-attempts` still does)",
    )
    scheduler: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Run the scheduled jobs (docs/scheduling.md). auto: inside `elearning serve` when events run "
        "in-process (no Kafka), and in `elearning worker scheduler`; on: in serve as well with Kafka; off: nowhere "
        "(the worker refuses to start; `elearning jobs run` still works)",
    )
    scheduler_tick_seconds: float = Field(
        default=1.0, gt=0, le=60, description="How often a scheduler looks for due jobs"
    )
    transcode_concurrency: int = Field(
        default=1, ge=1, le=64, description="Videos one consuming process transcodes at the same time"
    )
    discussion_posts_per_window: int = Field(
        default=10,
        ge=1,
        le=10_000,
        description="Posts (threads and replies) one learner may write per ELEARNING_DISCUSSION_POST_WINDOW_SECONDS; "
        "staff are not limited",
    )
    discussion_post_window_seconds: int = Field(
        default=60, ge=1, le=86_400, description="The window of the discussion posting limit (sliding)"
    )
    discussion_auto_hide_flags: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Flags from distinct people after which a post is hidden until a moderator reviews it",
    )
    recommendation_train_minutes: float = Field(
        default=60,
        gt=0,
        le=10_080,
        description="Period of the job `recommendations.train` (retrains the recommendation read model)",
    )
    recommendation_cache_seconds: float = Field(
        default=60,
        ge=0,
        le=86_400,
        description="How long a learner's recommendation list stays cached (dropped at once when their "
        "enrollments change); 0: not cached",
    )
    analytics_inactive_days: int = Field(
        default=14,
        ge=1,
        le=3650,
        description="The at-risk list: a learner with no recorded activity for this many days is inactive "
        "(`inactive_days` overrides it per request)",
    )
    analytics_expected_course_days: int = Field(
        default=30,
        ge=1,
        le=3650,
        description="The at-risk list: how long a course is expected to take, from the enrollment (self-paced) or "
        "the cohort's start; behind pace compares the lessons completed with the share of it elapsed "
        "(`expected_days` overrides it per request)",
    )
    analytics_suppression_k: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="Staff and admin reports hide a cell counting fewer learners than this (and more than none), "
        "and the complementary cells that would give it away (elearning_core.analytics.privacy)",
    )
