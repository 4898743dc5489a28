"""The ``video-processing`` consumer: ``video.upload_completed.v1`` starts the media pipeline.

The handler only hands the video to a ``VideoProcessor`` and returns: the
dispatcher runs a handler inside a database transaction (with its inbox row),
and a transcode takes minutes, which must not hold a transaction (on SQLite,
the one write lock) for that long. The processor runs ``VideoService.process``
as a task of the consuming process, a bounded number at a time, with short
units of work of its own; the heavy work is ffmpeg, a child process.

Where it runs: with Kafka, in ``elearning worker consume video-processing``,
never in the API process. With the embedded default, the in-process event
transport runs the handler in the API server, and ffmpeg runs as its child
process, awaited asynchronously: requests keep being served (see
benchmarks/RESULTS.md for /health latency during a transcode).

A process that stops mid-transcode cancels it (killing ffmpeg), leaving the
video ``processing`` until an operator runs ``elearning videos reprocess VIDEO``,
which sends it through the pipeline again (nothing retries it by itself yet). A redelivered event for a video no
longer processing does nothing, and a run replaces the output of any earlier one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncConnection

import elearning_core.video.events  # noqa: F401  (registers the video event types)
from elearning_adapters.events.subscriptions import Subscription
from elearning_core.shared.envelope import EventEnvelope
from elearning_core.shared.events import DomainEvent
from elearning_core.video.events import VideoUploadCompleted
from elearning_core.video.service import VideoService

log = logging.getLogger(__name__)

VIDEO_PROCESSING = "video-processing"


class VideoProcessor:
    def __init__(self, service: Callable[[], VideoService], concurrency: int = 1) -> None:
        """``service`` is called at the first run (the container builds the service after the processor)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._service = service
        self._concurrency = concurrency
        self._slots: asyncio.Semaphore | None = None
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._again: set[uuid.UUID] = set()

    def submit(self, video_id: uuid.UUID) -> None:
        """Process the video in the background of this process (again after the current run, if one is going)."""
        if video_id in self._tasks and not self._tasks[video_id].done():
            self._again.add(video_id)  # a reprocess while it runs: run once more with the new source
            return
        task = asyncio.get_running_loop().create_task(self._run(video_id), name=f"video-processing-{video_id}")
        self._tasks[video_id] = task

    async def _run(self, video_id: uuid.UUID) -> None:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self._concurrency)
        try:
            while True:
                self._again.discard(video_id)
                async with self._slots:
                    try:
                        status = await self._service().process(video_id)
                        if status is not None:
                            log.info("video %s processed: %s", video_id, status.value)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("processing video %s failed unexpectedly", video_id)
                if video_id not in self._again:
                    break
        finally:
            if self._tasks.get(video_id) is asyncio.current_task():
                del self._tasks[video_id]

    @property
    def busy(self) -> int:
        return sum(1 for t in self._tasks.values() if not t.done())

    async def wait_idle(self, timeout: float) -> None:  # noqa: ASYNC109 (a convenience for tests)
        """Wait until no video is being processed (tests, scripts); ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while tasks := [t for t in self._tasks.values() if not t.done()]:
                await asyncio.wait(tasks)

    async def aclose(self) -> None:
        """Cancel the runs in progress (their ffmpeg is killed; the videos stay ``processing``)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()


def video_processing_subscription(processor: VideoProcessor) -> Subscription:
    async def upload_completed(event: DomainEvent, _envelope: EventEnvelope, _conn: AsyncConnection) -> None:
        processor.submit(event.aggregate_id)

    return Subscription(
        name=VIDEO_PROCESSING,
        description="probes and transcodes uploaded videos into HLS (ffprobe, ffmpeg)",
        handlers={VideoUploadCompleted.type: upload_completed},
    )
