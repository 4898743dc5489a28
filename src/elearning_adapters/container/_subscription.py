"""The subscription module's wiring: for now the plan catalog's service on the shared unit of work (plans
have no consumers, commit listeners or jobs yet; renewals and dunning will add jobs here)."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_core.subscription.service import PlanService


class SubscriptionWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)

    plans = providers.Singleton(
        PlanService,
        uow=shared.unit_of_work.provider,
        resources=shared.resources,
        policy=shared.policy,
        clock=shared.clock,
        cursors=shared.cursors,
    )
