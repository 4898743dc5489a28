"""Search: one port, two engines (PostgreSQL full-text and SQLite FTS5), fed by events."""
