"""Publication dates that can be true, as ISO strings as precise as the source: '2023',
'2023-01' or '2023-01-15'.

iso_date   (year, month, day) parts as a source gives them (numbers, digit strings, month names)
           -> the plausible ISO date, or None when the year is not plausible
plausible  an ISO date string -> its plausible part: an impossible day is dropped ('2023-02-30'
           -> '2023-02'), an impossible month too ('2023-13' -> '2023'); an impossible year
           (Crossref's year 0, '9999', before FIRST_YEAR or more than a year ahead) -> None
"""

from __future__ import annotations

import re
from datetime import date

FIRST_YEAR = 1000       # no record in this corpus is older; Crossref's `[[0]]` placeholder is not a year
YEARS_AHEAD = 1         # a journal issue may be dated next year, never later
MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}
ISO = re.compile(r"(\d{1,4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?")


def _number(value, names: dict | None = None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    return (names or {}).get(text[:3].lower())


def iso_date(year, month=None, day=None, today: date | None = None) -> str | None:
    """The plausible ISO date of these parts (see the module docstring)."""
    number = _number(year)
    latest = (today or date.today()).year + YEARS_AHEAD
    if number is None or not FIRST_YEAR <= number <= latest:
        return None
    month_number = _number(month, MONTHS)
    if not month_number or not 1 <= month_number <= 12:
        return f"{number:04d}"
    day_number = _number(day)
    if day_number:
        try:
            return date(number, month_number, day_number).isoformat()
        except ValueError:
            pass
    return f"{number:04d}-{month_number:02d}"


def plausible(value: str | None, today: date | None = None) -> str | None:
    """An ISO date (or date-time) string cut to its plausible part; None when nothing is."""
    if not value:
        return None
    match = ISO.match(str(value).strip())
    if not match:
        return None
    return iso_date(*match.groups(), today=today)
