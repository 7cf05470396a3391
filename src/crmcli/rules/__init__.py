"""Pure policy logic: no database, no Typer, no printing."""
