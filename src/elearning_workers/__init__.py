"""Background workers runtime (the outbox relay and event consumers)."""
