"""User progress: learning activity, completion, conditional release and resume (a projection of events)."""
