"""Only the package list, which pyproject.toml cannot express: everything under src/, and migrations/ as elearning_migrations."""

from setuptools import find_packages, setup

setup(packages=[*find_packages("src"), "elearning_migrations", "elearning_migrations.versions"])
