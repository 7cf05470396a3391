"""Column types: aware UTC datetimes on every backend, JSON lists/objects."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.types import BigInteger, DateTime, TypeDecorator


class UTCDateTime(TypeDecorator):
    """Stores aware datetimes as UTC; always returns aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: every datetime is stored aware")
        value = value.astimezone(UTC)
        # SQLite has no timezone type: keep the naive UTC value, which sorts correctly
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Money(TypeDecorator):
    """Exact money: Decimal in Python, whole cents in the database (sums stay exact in SQL)."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return int((Decimal(value) * 100).to_integral_value(rounding=ROUND_HALF_UP))

    def process_result_value(self, value: int | None, dialect):  # noqa: ANN001
        return None if value is None else Decimal(value) / 100


class Fixed(TypeDecorator):
    """An exact Decimal with `places` decimals, stored as a whole number of those units
    (quantities in thousandths, percentages in hundredths): no float on any backend."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places

    def process_bind_param(self, value: Decimal | None, dialect):  # noqa: ANN001
        if value is None:
            return None
        return int(Decimal(value).scaleb(self.places).to_integral_value(rounding=ROUND_HALF_UP))

    def process_result_value(self, value: int | None, dialect):  # noqa: ANN001
        return None if value is None else Decimal(value).scaleb(-self.places)
