"""Redis adapters."""

from elearning_adapters.redis.cache import RedisCache

__all__ = ["RedisCache"]
