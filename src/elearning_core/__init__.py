"""Pure domain core of the e-learning platform.

Entities, value objects, domain events, ports and use cases. This package
depends only on the standard library and pydantic; adapters implement its
ports and runtimes call its services.
"""
