"""The search module's adapters: the documents read from the source tables and the projection."""
