"""Placeholder: `crm advance`, `crm explain` (being written)."""


def advance() -> None:
    """Advance a lead (not yet built). Example: crm advance 1 qualification"""


def explain() -> None:
    """Explain a lead (not yet built). Example: crm explain 1"""
