"""The Typer admin CLI runtime (console script ``elearning``)."""
