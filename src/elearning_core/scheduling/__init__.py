"""Scheduled work: one scheduler for every module's periodic jobs, safe with several replicas."""
