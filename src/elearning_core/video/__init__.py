"""Videos: uploads, the media pipeline, captions and playback."""
