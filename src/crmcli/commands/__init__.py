"""Thin Typer command modules: parse arguments, call a service, render the result."""
