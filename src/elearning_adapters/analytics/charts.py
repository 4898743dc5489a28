"""``ChartRenderer`` on vl-convert: Vega-Lite compiled and drawn by the Vega libraries inside a Rust
extension (Deno for the JavaScript, resvg for the PNG), so no browser, Node or network is needed.

The drawing is CPU work that holds no lock the event loop needs, so it runs in a worker thread; a
semaphore (a thread one: the renderer may serve several event loops) bounds how many drawings run at
once per process. Every spec is checked against the bounds
before it is drawn (declared width and height, the PNG scale, the number of inline values and the spec's
size), and external data is refused (``allowed_base_urls=[]``): a spec can only draw what it carries.

With ``memo_bytes`` the drawings are kept (least recently used first out, up to that many bytes) by the
digest of their spec: a dashboard's spec only changes when its figures do, so the charts staff reload are
not drawn again (a drawing costs ~100 ms of CPU).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Final

import vl_convert

from elearning_core.analytics.charts import ChartRenderer, ChartRenderingFailed, ChartTooLarge
from elearning_core.shared.errors import FieldError

VEGA_LITE_VERSION: Final = "5.21"
"""The newest Vega-Lite 5 that vl-convert bundles; the specs say v5 in their ``$schema``."""


class VlConvertChartRenderer(ChartRenderer):
    def __init__(
        self,
        *,
        max_side: int = 4000,
        max_pixels: int = 8_000_000,
        max_values: int = 50_000,
        max_spec_bytes: int = 4_000_000,
        max_scale: float = 4.0,
        concurrency: int = 2,
        memo_bytes: int = 0,
    ) -> None:
        self._max_side, self._max_pixels, self._max_scale = max_side, max_pixels, max_scale
        self._max_values, self._max_spec_bytes = max_values, max_spec_bytes
        self._slots = threading.BoundedSemaphore(concurrency)
        self._memo_bytes, self._memo_size = memo_bytes, 0
        self._memo: OrderedDict[bytes, str | bytes] = OrderedDict()
        self._memo_lock = threading.Lock()

    async def svg(self, spec: Mapping[str, Any]) -> str:
        text = self._checked(spec, 1.0)
        key = self._key("svg", text)
        kept = self._recall(key)
        if isinstance(kept, str):
            return kept
        drawn = await asyncio.to_thread(self._draw_svg, text)
        self._keep(key, drawn)
        return drawn

    async def png(self, spec: Mapping[str, Any], *, scale: float = 1.0) -> bytes:
        text = self._checked(spec, scale)
        key = self._key(f"png@{scale!r}", text)
        kept = self._recall(key)
        if isinstance(kept, bytes):
            return kept
        drawn = await asyncio.to_thread(self._draw_png, text, scale)
        self._keep(key, drawn)
        return drawn

    def _key(self, kind: str, text: str) -> bytes:
        return hashlib.sha256(f"{kind}\n{text}".encode()).digest()

    def _recall(self, key: bytes) -> str | bytes | None:
        if not self._memo_bytes:
            return None
        with self._memo_lock:
            kept = self._memo.get(key)
            if kept is not None:
                self._memo.move_to_end(key)
            return kept

    def _keep(self, key: bytes, drawn: str | bytes) -> None:
        size = len(drawn)
        if not self._memo_bytes or size > self._memo_bytes:
            return
        with self._memo_lock:
            if key in self._memo:
                return
            self._memo[key] = drawn
            self._memo_size += size
            while self._memo_size > self._memo_bytes:
                _, dropped = self._memo.popitem(last=False)
                self._memo_size -= len(dropped)

    def _draw_svg(self, text: str) -> str:
        with self._slots:
            try:
                return vl_convert.vegalite_to_svg(text, vl_version=VEGA_LITE_VERSION, allowed_base_urls=[])
            except ValueError as error:
                raise ChartRenderingFailed(_first_line(error)) from error

    def _draw_png(self, text: str, scale: float) -> bytes:
        with self._slots:
            try:
                return vl_convert.vegalite_to_png(text, vl_version=VEGA_LITE_VERSION, scale=scale, allowed_base_urls=[])
            except ValueError as error:
                raise ChartRenderingFailed(_first_line(error)) from error

    def _checked(self, spec: Mapping[str, Any], scale: float) -> str:
        """The spec as JSON once it is within every bound; ``ChartTooLarge`` naming the first one passed."""
        if not 0 < scale <= self._max_scale:
            raise _too_large("scale", f"the scale must be above 0 and at most {self._max_scale:g}, not {scale:g}")
        width, height = _side(spec, "width", self._max_side), _side(spec, "height", self._max_side)
        if width * height * scale * scale > self._max_pixels:
            raise _too_large("scale", f"{width}x{height} at scale {scale:g} is more than {self._max_pixels} pixels")
        values = _count_values(spec)
        if values > self._max_values:
            raise _too_large("data", f"{values} data values is more than the {self._max_values} a chart may draw")
        try:
            text = json.dumps(spec, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as error:
            raise ChartRenderingFailed(f"the spec is not plain JSON: {error}") from error
        if len(text) > self._max_spec_bytes:
            raise _too_large("spec", f"the spec's {len(text)} bytes are more than {self._max_spec_bytes}")
        return text


def _side(spec: Mapping[str, Any], name: str, most: int) -> int:
    side = spec.get(name)
    if not isinstance(side, int) or isinstance(side, bool) or not 0 < side <= most:
        raise _too_large(name, f"the chart's {name} must be a number of pixels from 1 to {most}")
    return side


def _count_values(spec: Mapping[str, Any]) -> int:
    """Inline values in the spec and every view inside it (layers, concatenations, facets)."""
    count = 0
    stack: list[Any] = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, Mapping):
            data = node.get("data")
            if isinstance(data, Mapping) and isinstance(data.get("values"), list):
                count += len(data["values"])
            stack.extend(v for k, v in node.items() if k != "data" and isinstance(v, Mapping | list))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, Mapping | list))
    return count


def _too_large(field: str, message: str) -> ChartTooLarge:
    return ChartTooLarge(f"chart too large to render: {message}", [FieldError(field, message)])


def _first_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if line.startswith("Error:")), lines[-1] if lines else "unknown error")
    return f"the chart could not be drawn: {detail.removeprefix('Error:').strip()}"
