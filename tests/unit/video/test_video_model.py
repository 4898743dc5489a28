"""The video status machine, the WebVTT validator, the ladder choice, ffprobe's verdicts and the URL signer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from elearning_adapters.media.ffmpeg import classify
from elearning_adapters.media.signer import HmacPlaybackSigner
from elearning_core.shared.errors import Conflict, ValidationFailed
from elearning_core.video.events import VideoFailed, VideoProcessingProgress, VideoReady, VideoUploadCompleted
from elearning_core.video.model import (
    TRANSITIONS,
    PlaybackPosition,
    ProbeResult,
    Rendition,
    Video,
    VideoSource,
    VideoStatus,
    check_language,
    choose_ladder,
    validate_webvtt,
)
from elearning_core.video.ports import MediaError

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = VideoSource("videos/x/source", 1000, "a" * 64)
PROBE = ProbeResult(2.0, 1280, 720, True, "h264")
RENDITIONS = [Rendition("360p", 640, 360, 896_000, "360p/index.m3u8")]


def a_video() -> Video:
    video = Video.create(course_id=uuid.uuid4(), title="  Lecture   one ", at=T0, created_by=None)
    video.pull_events()
    return video


def test_the_happy_path_records_the_pipeline_events() -> None:
    video = a_video()
    assert video.title == "Lecture one"
    video.start_upload(T0)
    video.complete_upload(SOURCE, T0)
    assert video.status is VideoStatus.PROCESSING
    assert video.report_progress(40, T0)
    assert not video.report_progress(30, T0)  # never backwards
    video.mark_ready(PROBE, RENDITIONS, T0)
    assert (video.status, video.progress, video.duration_seconds) == (VideoStatus.READY, 100, 2.0)
    assert [type(e) for e in video.pull_events()] == [VideoUploadCompleted, VideoProcessingProgress, VideoReady]


def test_a_failure_keeps_its_reason_and_a_new_upload_clears_it() -> None:
    video = a_video()
    video.start_upload(T0)
    video.complete_upload(SOURCE, T0)
    video.fail("not a video: ffprobe found no video stream", T0)
    assert video.status is VideoStatus.FAILED
    assert video.failure_reason == "not a video: ffprobe found no video stream"
    assert isinstance(video.pull_events()[-1], VideoFailed)
    video.start_upload(T0)
    assert (video.status, video.failure_reason) == (VideoStatus.UPLOADING, "")


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (VideoStatus.DRAFT, lambda v: v.complete_upload(SOURCE, T0)),
        (VideoStatus.DRAFT, lambda v: v.mark_ready(PROBE, RENDITIONS, T0)),
        (VideoStatus.UPLOADING, lambda v: v.mark_ready(PROBE, RENDITIONS, T0)),
        (VideoStatus.READY, lambda v: v.fail("late failure", T0)),
        (VideoStatus.PROCESSING, lambda v: v.start_upload(T0)),
    ],
)
def test_moves_the_machine_does_not_allow_are_conflicts(status: VideoStatus, action: object) -> None:
    video = a_video()
    video.status = status
    with pytest.raises(Conflict):
        action(video)  # type: ignore[operator]
    assert video.status is status


def test_reprocess_needs_a_source() -> None:
    video = a_video()
    video.status = VideoStatus.FAILED
    with pytest.raises(Conflict, match="no complete upload"):
        video.reprocess(T0)
    video.source = SOURCE
    video.reprocess(T0)
    event = video.pull_events()[-1]
    assert isinstance(event, VideoUploadCompleted)
    assert event.reprocess


def test_cancelling_an_upload_returns_to_where_the_kept_source_allows() -> None:
    video = a_video()
    video.start_upload(T0)
    video.cancel_upload(T0)
    assert video.status is VideoStatus.DRAFT
    video.start_upload(T0)
    video.complete_upload(SOURCE, T0)
    video.mark_ready(PROBE, RENDITIONS, T0)
    video.start_upload(T0)
    video.cancel_upload(T0)
    assert video.status is VideoStatus.READY


@given(st.lists(st.sampled_from(list(VideoStatus)), max_size=12))
def test_every_status_sequence_either_follows_the_table_or_is_refused(targets: list[VideoStatus]) -> None:
    video = a_video()
    for target in targets:
        before = video.status
        allowed = target in TRANSITIONS[before]
        try:
            video._move(target, T0, "move")
        except Conflict:
            assert not allowed
            assert video.status is before
        else:
            assert allowed
            assert video.status is target


@pytest.mark.parametrize(
    ("height", "names"),
    [(1080, ["360p", "720p"]), (720, ["360p", "720p"]), (480, ["360p"]), (240, ["240p"]), (241, ["240p"])],
)
def test_the_ladder_never_upscales_and_has_at_least_one_rung(height: int, names: list[str]) -> None:
    assert [r.name for r in choose_ladder(height)] == names


GOOD_VTT = [
    "WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n",
    "\ufeffWEBVTT - with a title\r\n\r\n1\r\n00:00:00.000 --> 00:00:01.500 align:start\r\nHi\r\n",
    "WEBVTT\n\nNOTE a comment\n\n00:00:01.000 --> 00:00:02.000\nA\n\n00:00:01.000 --> 00:00:03.000\nB\n",
    "WEBVTT\n\n01:00:00.000 --> 01:00:01.000\nÉté 夏\n",
]
BAD_VTT = [
    (b"Hello\n\n00:00.000 --> 00:01.000\nHi\n", 1, "starts with the line 'WEBVTT'"),
    (b"WEBVTTX\n", 1, "starts with the line"),
    (b"WEBVTT\n\n00:00.000 -> 00:01.000\nHi\n00:00.000 --> 1s\n", 5, "cue timing"),
    (b"WEBVTT\n\n00:02.000 --> 00:01.000\nHi\n", 3, "end after it starts"),
    (b"WEBVTT\n\n00:02.000 --> 00:03.000\nA\n\n00:01.000 --> 00:04.000\nB\n", 6, "in order"),
    (b"WEBVTT\n\n00:61.000 --> 00:62.000\nA\n", 3, "cue timing"),
    (b"WEBVTT\n\n00:00.000 --> 00:01.000\n\xff\xfe\n", 4, "not UTF-8"),
]


@pytest.mark.parametrize("text", GOOD_VTT)
def test_valid_webvtt_is_accepted(text: str) -> None:
    assert "-->" in validate_webvtt(text.encode())


@pytest.mark.parametrize(("data", "line", "message"), BAD_VTT)
def test_invalid_webvtt_is_refused_naming_the_line(data: bytes, line: int, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        validate_webvtt(data)
    assert refused.value.errors[0].message.startswith(f"line {line}:"), refused.value.errors
    assert message in refused.value.detail


def test_webvtt_without_cues_or_too_large_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="no cues"):
        validate_webvtt(b"WEBVTT\n\nNOTE nothing\n")
    big = b"WEBVTT\n\n" + b"00:00.000 --> 00:01.000\nx\n\n" * 50_000
    with pytest.raises(ValidationFailed, match="larger than"):
        validate_webvtt(big)


@pytest.mark.parametrize("tag", ["en", "pt-BR", "zh-Hant-TW", "sgn-BE-FR"])
def test_bcp47_tags_are_accepted(tag: str) -> None:
    assert check_language(tag) == tag


@pytest.mark.parametrize("tag", ["", "e", "english!", "en_US", "../x", "en-" + "x" * 9])
def test_other_language_names_are_refused(tag: str) -> None:
    with pytest.raises(ValidationFailed):
        check_language(tag)


def test_ffprobe_reports_are_classified() -> None:
    video = {"codec_type": "video", "width": 1280, "height": 720, "codec_name": "h264"}
    audio = {"codec_type": "audio"}
    probe = classify({"streams": [video, audio], "format": {"duration": "2.0"}})
    assert (probe.width, probe.height, probe.has_audio, probe.duration_seconds) == (1280, 720, True, 2.0)
    with pytest.raises(MediaError, match=r"^not a video: ffprobe found no video stream$"):
        classify({"streams": [audio], "format": {"duration": "2.0"}})
    cover = {**video, "disposition": {"attached_pic": 1}}
    with pytest.raises(MediaError, match="no video stream"):
        classify({"streams": [audio, cover], "format": {"duration": "2.0"}})
    with pytest.raises(MediaError, match="no duration"):
        classify({"streams": [video], "format": {}})


SIGNER = HmacPlaybackSigner(b"secret")
PREFIX = "videos/0190/"
USER = uuid.uuid4()


def test_a_signed_prefix_verifies_until_it_expires() -> None:
    signed = SIGNER.sign(PREFIX, USER, T0 + timedelta(hours=1))
    assert SIGNER.verify(signed.token, PREFIX, T0) == USER
    assert SIGNER.verify(signed.token, PREFIX, T0 + timedelta(minutes=59)) == USER
    assert SIGNER.verify(signed.token, PREFIX, T0 + timedelta(hours=1)) is None


def test_a_tampered_or_foreign_token_is_refused() -> None:
    token = SIGNER.sign(PREFIX, USER, T0 + timedelta(hours=1)).token
    expires, user, mac = token.split(".")
    assert SIGNER.verify(token, "videos/other/", T0) is None
    assert SIGNER.verify(f"{int(expires) + 60}.{user}.{mac}", PREFIX, T0) is None
    assert SIGNER.verify(f"{expires}.{uuid.uuid4().hex}.{mac}", PREFIX, T0) is None
    assert SIGNER.verify(f"{expires}.{user}.{mac[:-2]}AA", PREFIX, T0) is None
    assert HmacPlaybackSigner(b"another secret").verify(token, PREFIX, T0) is None
    for junk in ("", "a.b", "x.y.z", "1.2.3.4", "9" * 300):
        assert SIGNER.verify(junk, PREFIX, T0) is None


@given(seconds=st.floats(min_value=0, max_value=7 * 24 * 3600), duration=st.floats(min_value=0.1, max_value=36_000))
def test_a_playback_position_past_the_end_is_kept_as_the_end(seconds: float, duration: float) -> None:
    video = a_video()
    video.start_upload(T0)
    video.complete_upload(SOURCE, T0)
    video.mark_ready(ProbeResult(duration, 1280, 720, True, "h264"), RENDITIONS, T0)
    user = uuid.uuid4()
    position = PlaybackPosition.within(user, video, seconds, T0)
    assert (position.user_id, position.video_id, position.updated_at) == (user, video.id, T0)
    assert position.position_seconds == min(seconds, duration)


def test_a_position_in_a_video_of_unknown_duration_is_kept() -> None:
    video = a_video()
    assert video.duration_seconds is None
    assert PlaybackPosition.within(uuid.uuid4(), video, 5000.0, T0).position_seconds == 5000.0
