"""The course catalog module: courses with ordered sections and lessons, and their lifecycle."""
