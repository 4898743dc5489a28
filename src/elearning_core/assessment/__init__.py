"""The assessment engine: question bank, quizzes, attempts, grading, regrading and the gradebook."""
