"""Learning paths: ordered programs of courses with required and elective parts."""
