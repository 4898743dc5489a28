"""The progress module's adapters beyond its tables: the projection's subscription and the gradebook read."""

from elearning_adapters.progress.projection import PROGRESS, AssessmentCourseGrades, progress_subscription, rebuild

__all__ = ["PROGRESS", "AssessmentCourseGrades", "progress_subscription", "rebuild"]
