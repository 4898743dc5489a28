"""The analytics module's tables and stores: the xAPI statement store (a learning record store's storage)
and the enrollment read (in the projection's transaction) that gives statements their registration.

Re-exported from its parts: ``_tables`` (the statements table), ``_store`` (the store, and the writer the
projection uses inside its batch's transaction), ``_credentials`` (the LRS's credentials), ``_export`` (one learner's statements for their export), ``_forwarding`` (stored
order, checkpoints and pruning for the forwarder and retention), ``_pseudonymise`` (deleted accounts'
statements under their pseudonyms) and ``_registrations``.
"""

from __future__ import annotations

from elearning_adapters.sql.analytics._credentials import SqlLrsCredentialStore, SqlOrganizationExists, lrs_credentials
from elearning_adapters.sql.analytics._export import SqlLearnerStatements, SqlUserExists
from elearning_adapters.sql.analytics._forwarding import SqlStatementFeed
from elearning_adapters.sql.analytics._pseudonymise import deleted_among, pseudonymise_statements, under_pseudonyms
from elearning_adapters.sql.analytics._registrations import registrations_of
from elearning_adapters.sql.analytics._store import SqlStatementStore, StatementWriter
from elearning_adapters.sql.analytics._tables import ANALYTICS_TABLES, xapi_forwarding, xapi_statements

__all__ = [
    "ANALYTICS_TABLES",
    "SqlLearnerStatements",
    "SqlLrsCredentialStore",
    "SqlOrganizationExists",
    "SqlStatementFeed",
    "SqlStatementStore",
    "SqlUserExists",
    "StatementWriter",
    "deleted_among",
    "lrs_credentials",
    "pseudonymise_statements",
    "registrations_of",
    "under_pseudonyms",
    "xapi_forwarding",
    "xapi_statements",
]
