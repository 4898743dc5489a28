"""The composition root: the only place that chooses adapters for the core's ports.

One wiring per module (``_identity.py``, ``_course.py``, ...), each a
dependency-injector sub-container declaring the module's adapters, services,
event subscriptions, commit listeners and closers; ``_shared.py`` holds what
every module shares. ``Container`` only assembles them (see
docs/composition-root.md). Runtimes build one ``Container`` from ``Settings``
and ask it for services explicitly (``container.services.course()``); tests
override providers instead of patching modules. Scripts and tests embed the
platform through ``bootstrap()``.
"""

from elearning_adapters.container._assembly import Container, Services, build_container
from elearning_adapters.container._platform import Platform, bootstrap, close_adapters, freeze_startup_objects
from elearning_adapters.container._wiring import ModuleWiring

__all__ = [
    "Container",
    "ModuleWiring",
    "Platform",
    "Services",
    "bootstrap",
    "build_container",
    "close_adapters",
    "freeze_startup_objects",
]
