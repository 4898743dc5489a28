"""The discussion module's wiring: its SQL reads (threads, members, authors, the notification audience) and
its service, posting limits from the settings on the platform's rate limiter (Redis when configured)."""

from __future__ import annotations

from dependency_injector import providers

from elearning_adapters.container._wiring import ModuleWiring
from elearning_adapters.content import SanitizingMarkdownRenderer
from elearning_adapters.settings import Settings
from elearning_adapters.sql.discussion import SqlAuthors, SqlCourseMembers, SqlDiscussionQueries
from elearning_core.auth.ports import RateLimiter
from elearning_core.discussion.service import DiscussionService


class DiscussionWiring(ModuleWiring):
    shared = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=Settings)
    rate_limiter: providers.Dependency[RateLimiter] = providers.Dependency()
    renderer = providers.Dependency(instance_of=SanitizingMarkdownRenderer)

    queries = providers.Singleton(SqlDiscussionQueries, shared.database)
    audience = queries
    """``followers(thread_id)`` / ``watchers(course_id)``: what the notification module fans out to."""
    members = providers.Singleton(SqlCourseMembers, shared.database)
    authors = providers.Singleton(SqlAuthors, shared.database)

    service = providers.Singleton(
        DiscussionService,
        uow=shared.unit_of_work.provider,
        queries=queries,
        members=members,
        authors=authors,
        renderer=renderer,
        limiter=rate_limiter,
        policy=shared.policy,
        clock=shared.clock,
        cursors=shared.cursors,
        posts_per_window=providers.Callable(lambda s: s.discussion_posts_per_window, settings),
        window_seconds=providers.Callable(lambda s: float(s.discussion_post_window_seconds), settings),
        auto_hide_flags=providers.Callable(lambda s: s.discussion_auto_hide_flags, settings),
    )
