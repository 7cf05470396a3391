"""Alembic migrations. SCHEMA_HEAD must name the newest revision (a test checks it)."""

SCHEMA_HEAD = "0021"
