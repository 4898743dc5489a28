"""Adapters for the core's ports, and the composition root.

The embedding entry point lives here::

    from elearning_adapters import Settings, bootstrap

    platform = await bootstrap(Settings())      # in-memory SQLite by default
    course = await platform.courses.create(SYSTEM, CreateCourse(title="Intro"))
"""

from elearning_adapters.container import Platform, bootstrap
from elearning_adapters.settings import Settings

__all__ = ["Platform", "Settings", "bootstrap"]
