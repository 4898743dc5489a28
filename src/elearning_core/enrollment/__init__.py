"""The enrollment module: who learns in which course (and cohort), under each course's enrollment rules."""
