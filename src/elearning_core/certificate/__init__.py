"""Certificates: Open Badges 3.0 verifiable credentials for completed courses and learning paths."""
