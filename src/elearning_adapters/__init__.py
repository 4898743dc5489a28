"""Adapters for the core's ports, and the composition root.

The embedding entry point lives here::

    from elearning_adapters import Settings, bootstrap

    platform = await bootstrap(Settings())      # in-memory SQLite by default
    course = await platform.courses.create(SYSTEM, CreateCourse(title="Intro"))

The names are resolved on first use (PEP 562): importing any adapter
subpackage (``elearning_adapters.kafka.headers``, ``elearning_adapters.metrics``)
must not build the whole composition root, or every CLI ``--help`` pays for
SQLAlchemy, Alembic, Litestar-free adapters and confluent-kafka.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from elearning_adapters.container import Platform, bootstrap
    from elearning_adapters.settings import Settings

__all__ = ["Platform", "Settings", "bootstrap"]

_LAZY = {
    "Platform": "elearning_adapters.container",
    "bootstrap": "elearning_adapters.container",
    "Settings": "elearning_adapters.settings",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'elearning_adapters' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
