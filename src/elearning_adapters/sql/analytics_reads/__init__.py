"""The analytics reports' SQL reads over the other modules' tables (no tables of their own): what the
at-risk list needs of a course (``SqlAtRiskReads``), on SQLite and PostgreSQL."""

from elearning_adapters.sql.analytics_reads._at_risk import SqlAtRiskReads

__all__ = ["SqlAtRiskReads"]
