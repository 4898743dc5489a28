"""The Litestar REST API runtime."""
