"""SQLAlchemy (Core, async) adapters: one engine, one unit of work, one file per module."""
