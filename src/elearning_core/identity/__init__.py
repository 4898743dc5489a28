"""The identity module: who a user is, and how they prove it (starting with their password)."""
