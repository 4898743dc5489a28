"""The shared kernel every module builds on: ids, clock, errors, events, ports, pagination."""
