"""Media adapters: ffprobe/ffmpeg, playback URL signing, and the video-processing consumer."""
