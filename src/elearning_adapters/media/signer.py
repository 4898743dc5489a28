"""``PlaybackSigner`` with HMAC-SHA256: a token that grants one storage prefix to one user until a time.

The token travels in the media URL's path (``/api/v1/media/<token>/videos/<id>/hls/master.m3u8``),
so the relative segment and variant URLs inside the playlists inherit it, and a
player needs no cookie and no header. It reads ``<expiry>.<user hex>.<mac>``;
the MAC covers the prefix, the expiry and the user, so neither can be changed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime

from elearning_core.video.ports import PlaybackSigner, SignedPrefix


class HmacPlaybackSigner(PlaybackSigner):
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"elearning playback:" + secret).digest()

    def _mac(self, prefix: str, expires: int, user: str) -> str:
        mac = hmac.new(self._key, f"{prefix}\n{expires}\n{user}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, prefix: str, user_id: uuid.UUID, expires_at: datetime) -> SignedPrefix:
        expires = int(expires_at.timestamp())
        token = f"{expires}.{user_id.hex}.{self._mac(prefix, expires, user_id.hex)}"
        return SignedPrefix(token, datetime.fromtimestamp(expires, UTC))

    def verify(self, token: str, prefix: str, at: datetime) -> uuid.UUID | None:
        if len(token) > 200:
            return None
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) > 12:
            return None
        expires, user, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(self._mac(prefix, expires, user).encode(), mac.encode()):
            return None
        if at.timestamp() >= expires:
            return None
        try:
            return uuid.UUID(hex=user)
        except ValueError:
            return None
