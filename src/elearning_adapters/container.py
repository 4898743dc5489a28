"""The composition root: the only place that chooses adapters for the core's ports.

Runtimes build one ``Container`` from ``Settings`` and ask it for services
explicitly; tests override providers instead of patching modules. Scripts and
tests embed the platform through ``bootstrap()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import Self

from dependency_injector import containers, providers

from elearning_adapters.settings import Settings
from elearning_adapters.sql import migrate
from elearning_adapters.sql.course import catalog_queries_for
from elearning_adapters.sql.engine import Database
from elearning_adapters.sql.uow import SqlUnitOfWork
from elearning_core.course.service import CourseService
from elearning_core.shared.clock import SystemClock
from elearning_core.shared.pagination import CursorCodec
from elearning_core.shared.ports import AdminOnlyPolicy


def _cursor_codec(settings: Settings) -> CursorCodec:
    return CursorCodec(settings.resolved_secret())


class Adapters(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)

    database = providers.Singleton(Database.from_settings, settings)
    clock = providers.Singleton(SystemClock)
    policy = providers.Singleton(AdminOnlyPolicy)
    cursors = providers.Singleton(_cursor_codec, settings)
    unit_of_work = providers.Factory(SqlUnitOfWork, database)
    catalog_queries = providers.Singleton(catalog_queries_for, database)


class Services(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()

    course = providers.Singleton(
        CourseService,
        uow=adapters.unit_of_work.provider,
        queries=adapters.catalog_queries,
        clock=adapters.clock,
        policy=adapters.policy,
        cursors=adapters.cursors,
    )


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    adapters = providers.Container(Adapters, settings=settings)
    services = providers.Container(Services, adapters=adapters)


def build_container(settings: Settings) -> Container:
    return Container(settings=settings)


@dataclass
class Platform:
    """The platform's services on one database, for scripts, tests and tools."""

    settings: Settings
    container: Container
    database: Database
    courses: CourseService

    async def aclose(self) -> None:
        await self.database.dispose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


async def bootstrap(settings: Settings | None = None, *, run_migrations: bool = True) -> Platform:
    """Build the platform on the database ``settings`` names (in-memory SQLite when omitted).

    Pending migrations are applied first unless ``run_migrations`` is false.
    """
    settings = settings or Settings.in_memory()
    container = build_container(settings)
    database = container.adapters.database()
    if run_migrations:
        await migrate.upgrade(database)
    return Platform(settings=settings, container=container, database=database, courses=container.services.course())
