"""Entitlements: the one answer to "may this user access this course now, and why" (issue 15, point 4)."""
