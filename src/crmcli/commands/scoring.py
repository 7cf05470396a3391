"""Placeholder: `crm score`, `crm lead event` (being written)."""


def score() -> None:
    """Score a lead (not yet built). Example: crm score 1"""


def lead_event() -> None:
    """Log an engagement event (not yet built). Example: crm lead event 1 web-visit"""
