"""Persistence: table models, the engine factory, schema migrations."""
