"""Placeholder: `crm assign`, `crm user away` (being written)."""


def assign() -> None:
    """Assign leads (not yet built). Example: crm assign 1"""


def user_away() -> None:
    """Out of office (not yet built). Example: crm user away maria 2026-12-01 2026-12-05"""
