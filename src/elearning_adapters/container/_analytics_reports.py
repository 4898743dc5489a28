"""The analytics reports' wiring: the at-risk list (its SQL reads over the other modules' tables, the
gradebook read of the assessment module and the course's published outlines: narrow reads, passed by the
assembly), the course and platform dashboards over the aggregates' read port, the chart renderer, and the
small-cell threshold the staff and admin reports suppress under."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.analytics.charts import VlConvertChartRenderer
from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.settings import Settings
from elearning_adapters.sql.analytics_reads import SqlAtRiskReads
from elearning_core.analytics.aggregates import AggregateReads
from elearning_core.analytics.at_risk_service import AtRiskService
from elearning_core.analytics.dashboard import DashboardService
from elearning_core.assessment.queries import AssessmentQueries
from elearning_core.course.gating import PublishedOutlines


class AnalyticsReportsWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    outlines: providers.Dependency[PublishedOutlines] = providers.Dependency()
    """The course module's published outlines (cached): which lessons are required, which quiz each holds."""
    assessment_queries: providers.Dependency[AssessmentQueries] = providers.Dependency()
    """The assessment module's reads: the gradebook, so the course grade judged is the one staff see."""
    aggregates: providers.Dependency[AggregateReads] = providers.Dependency()
    """The aggregates the ``analytics`` projection keeps (the analytics wiring's ``analytics_aggregates``)."""

    at_risk_reads = providers.Singleton(SqlAtRiskReads, shared.database)
    at_risk = providers.Singleton(
        AtRiskService,
        at_risk_reads,
        assessment_queries,
        outlines,
        shared.resources,
        shared.clock,
        shared.policy,
        shared.cursors,
        inactive_days=providers.Callable(lambda s: s.analytics_inactive_days, settings),
        expected_days=providers.Callable(lambda s: s.analytics_expected_course_days, settings),
    )
    suppression_k = providers.Callable(lambda s: s.analytics_suppression_k, settings)
    """The k of ``elearning_core.analytics.privacy`` for the reports' counts (ELEARNING_ANALYTICS_SUPPRESSION_K)."""

    chart_renderer = providers.Singleton(VlConvertChartRenderer, memo_bytes=32 * 1024 * 1024)
    """Draws the reports' Vega-Lite specs as SVG and PNG (vl-convert, in worker threads, bounded), keeping
    32 MB of drawings by spec: a chart reloaded with unchanged figures is not drawn again."""
    dashboards = providers.Singleton(
        DashboardService,
        aggregates,
        shared.resources,
        outlines,
        shared.clock,
        shared.policy,
        k=suppression_k,
    )
