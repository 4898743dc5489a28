"""The scheduler's wiring: the job-run store, the ``Scheduler`` over every module's jobs (gathered by the
assembly, plus the scheduler's own pruning), and the background runner that serve and the worker start."""

from __future__ import annotations

from collections.abc import Sequence

from dependency_injector import containers, providers

from elearning_adapters.scheduler import SchedulerRunner, holder_id
from elearning_adapters.settings import Settings
from elearning_adapters.sql.scheduling import SqlJobRuns
from elearning_core.scheduling.model import Job
from elearning_core.scheduling.ports import JobRuns
from elearning_core.scheduling.service import Scheduler, prune_job
from elearning_core.shared.clock import Clock


def _scheduler(jobs: Sequence[Job], runs: JobRuns, clock: Clock) -> Scheduler:
    return Scheduler([*jobs, prune_job(runs, clock)], runs, clock, holder_id())


def _runner(scheduler: Scheduler, settings: Settings) -> SchedulerRunner:
    return SchedulerRunner(scheduler, settings.scheduler_tick_seconds)


class SchedulingWiring(containers.DeclarativeContainer):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    jobs = providers.Dependency(instance_of=list)
    """Every module's jobs, gathered by the assembly (``Container``)."""

    runs = providers.Singleton(SqlJobRuns, shared.database)
    scheduler = providers.Singleton(_scheduler, jobs, runs, shared.clock)
    runner = providers.Singleton(_runner, scheduler, settings)
