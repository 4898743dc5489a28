"""The analytics module's tables and stores: the xAPI statement store (a learning record store's storage)
and the enrollment read (in the projection's transaction) that gives statements their registration.

Re-exported from its parts: ``_tables`` (the statements table), ``_store`` (the store, and the writer the
projection uses inside its batch's transaction), ``_credentials`` (the LRS's credentials), ``_export`` (one
learner's statements for their export), ``_forwarding`` (stored order, checkpoints and pruning for the
forwarder and retention), ``_pseudonymise`` (deleted accounts' statements under their pseudonyms),
``_registrations``, and the aggregates (``_aggregate_tables``, ``_aggregate_writer``, ``_aggregates`` (the
projection's step, the rebuild, the learner rename), ``_aggregate_reads``).
"""

from __future__ import annotations

from elearning_adapters.sql.analytics._aggregate_reads import SqlAggregateReads
from elearning_adapters.sql.analytics._aggregate_tables import AGGREGATE_TABLES
from elearning_adapters.sql.analytics._aggregates import (
    count_new,
    rebuild_aggregates,
    rename_learner,
    share_aggregates_lock,
)
from elearning_adapters.sql.analytics._credentials import SqlLrsCredentialStore, SqlOrganizationExists, lrs_credentials
from elearning_adapters.sql.analytics._export import SqlLearnerStatements, SqlUserExists
from elearning_adapters.sql.analytics._forwarding import SqlStatementFeed
from elearning_adapters.sql.analytics._pseudonymise import (
    accounts_of,
    deleted_among,
    lock_accounts,
    pseudonymise_statements,
    under_pseudonyms,
)
from elearning_adapters.sql.analytics._registrations import registrations_of
from elearning_adapters.sql.analytics._revenue import REVENUE_EVENTS, count_revenue
from elearning_adapters.sql.analytics._store import SqlStatementStore, StatementWriter
from elearning_adapters.sql.analytics._tables import ANALYTICS_TABLES, xapi_forwarding, xapi_statements

__all__ = [
    "AGGREGATE_TABLES",
    "ANALYTICS_TABLES",
    "REVENUE_EVENTS",
    "SqlAggregateReads",
    "SqlLearnerStatements",
    "SqlLrsCredentialStore",
    "SqlOrganizationExists",
    "SqlStatementFeed",
    "SqlStatementStore",
    "SqlUserExists",
    "StatementWriter",
    "accounts_of",
    "count_new",
    "count_revenue",
    "deleted_among",
    "lock_accounts",
    "lrs_credentials",
    "pseudonymise_statements",
    "rebuild_aggregates",
    "registrations_of",
    "rename_learner",
    "share_aggregates_lock",
    "under_pseudonyms",
    "xapi_forwarding",
    "xapi_statements",
]
