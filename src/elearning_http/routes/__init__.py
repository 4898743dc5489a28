"""HTTP routes, one module per core module."""
