"""Identity and auth tables, their SQL repositories and the principal read on every request.

A package (the tables, ``_accounts``, ``_records``, ``_principal``); import from here.

Same mapping style as the course module: SQLAlchemy Core tables and explicit
row <-> entity mapping. Users and organizations are aggregates, written when
the unit of work commits; tokens, sessions, links, memberships and pending
logins are plain records written at once in the unit of work's transaction,
so the single-use ones can be spent by one atomic statement.

Foreign keys to users and organizations are DEFERRABLE INITIALLY DEFERRED: a
use case may register a user and, in the same unit of work, issue its
verification token, link its external identity or open its first session
before the user row is written at commit. The database still checks every
reference, at COMMIT.
"""

from elearning_adapters.sql.identity._accounts import (
    ORGANIZATION_SLUG_TAKEN,
    SqlOrganizationRepository,
    SqlUserQueries,
    SqlUserRepository,
)
from elearning_adapters.sql.identity._principal import SqlPrincipalQueries
from elearning_adapters.sql.identity._records import (
    EXTERNAL_IDENTITY_TAKEN,
    SqlExternalIdentityRepository,
    SqlOneTimeTokenRepository,
    SqlPendingLoginRepository,
    SqlSessionRepository,
)
from elearning_adapters.sql.identity._tables import (
    IDENTITY_TABLES,
    PLATFORM_SCOPE_ID,
    external_identities,
    login_sessions,
    one_time_tokens,
    organization_members,
    organizations,
    pending_logins,
    refresh_tokens,
    user_grants,
    users,
)

__all__ = [
    "EXTERNAL_IDENTITY_TAKEN",
    "IDENTITY_TABLES",
    "ORGANIZATION_SLUG_TAKEN",
    "PLATFORM_SCOPE_ID",
    "SqlExternalIdentityRepository",
    "SqlOneTimeTokenRepository",
    "SqlOrganizationRepository",
    "SqlPendingLoginRepository",
    "SqlPrincipalQueries",
    "SqlSessionRepository",
    "SqlUserQueries",
    "SqlUserRepository",
    "external_identities",
    "login_sessions",
    "one_time_tokens",
    "organization_members",
    "organizations",
    "pending_logins",
    "refresh_tokens",
    "user_grants",
    "users",
]
