"""Recommendations: similar and co-taken courses, a learner's "next for you", training and offline evaluation."""
