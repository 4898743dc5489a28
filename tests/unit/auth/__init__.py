"""Tests of the core authorization model."""
