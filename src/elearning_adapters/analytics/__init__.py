"""Analytics: xAPI statements, a learning record store, aggregates and reports."""
