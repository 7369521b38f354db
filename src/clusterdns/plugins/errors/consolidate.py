"""Counting matching errors over a period, without a clock of its own (CoreDNS's consolidate).

The first error that matches a pattern opens a window of the pattern's
period; matching errors inside it are only counted; when it closes, one line
``N errors like 'REGEXP' occurred in last PERIOD`` is logged.  The caller
passes the time in and asks for closed windows (``due``), so the rules are
tested with a scripted clock and the handler drives them with a timer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SECOND = 1_000_000_000
LEVELS = ("warning", "error", "info", "debug")


def go_duration(nanoseconds: int) -> str:
    """Go's ``time.Duration.String()``: ``30s``, ``5m0s``, ``1h0m0s``, ``1.5s``, ``250ms``, ``0s``.

    Under a second the largest unit that keeps a non-zero integer part is used
    (ns, µs, ms); from a second on it is ``[Hh][Mm]S.fracs`` with the hours and
    minutes written as soon as a larger unit is, and trailing zeros of the
    fraction dropped.
    """
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < 1000:
        return f"{sign}{value}ns"
    if value < 1_000_000:
        return f"{sign}{_decimal(value, 1000)}µs"
    if value < SECOND:
        return f"{sign}{_decimal(value, 1_000_000)}ms"
    hours, rest = divmod(value, 3600 * SECOND)
    minutes, rest = divmod(rest, 60 * SECOND)
    text = _decimal(rest, SECOND) + "s"
    if hours:
        text = f"{hours}h{minutes}m{text}"
    elif minutes:
        text = f"{minutes}m{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


@dataclass(frozen=True, slots=True)
class Pattern:
    """``consolidate DURATION REGEXP [LEVEL] [show_first]``."""

    period: int  # nanoseconds
    regexp: re.Pattern[str]
    level: str = "error"
    show_first: bool = False

    def summary(self, count: int) -> str:
        return f"{count} errors like '{self.regexp.pattern}' occurred in last {go_duration(self.period)}"


@dataclass(frozen=True, slots=True)
class Summary:
    level: str
    message: str


class Consolidator:
    """Open windows and their counts, one per pattern."""

    def __init__(self, patterns: tuple[Pattern, ...]) -> None:
        self.patterns = patterns
        self.counts = [0] * len(patterns)
        self.closes_at: list[float | None] = [None] * len(patterns)

    def record(self, error: str, now: float) -> tuple[int | None, bool]:
        """Count ``error`` under the first pattern it matches (Go ``MatchString``: anywhere).

        Returns the pattern's index (None when none matches) and whether the
        error itself should still be logged: always when unmatched, and for the
        first of a window when the pattern has ``show_first``.
        """
        for index, pattern in enumerate(self.patterns):
            if pattern.regexp.search(error) is None:
                continue
            self.counts[index] += 1
            if self.counts[index] == 1:
                self.closes_at[index] = now + pattern.period / SECOND
                return index, pattern.show_first
            return index, False
        return None, True

    def due(self, now: float) -> list[Summary]:
        """The summaries of windows that have closed by ``now``; their counts restart."""
        out = []
        for index, closes_at in enumerate(self.closes_at):
            if closes_at is not None and closes_at <= now:
                summary = self.close(index)
                if summary is not None:
                    out.append(summary)
        return out

    def close_all(self) -> list[Summary]:
        """Shutdown: report every open window now, as CoreDNS's ``stop`` does."""
        out = []
        for index, closes_at in enumerate(self.closes_at):
            if closes_at is not None:
                summary = self.close(index)
                if summary is not None:
                    out.append(summary)
        return out

    def close(self, index: int) -> Summary | None:
        """End pattern ``index``'s window: its summary, or None when there is nothing to say."""
        count = self.counts[index]
        self.counts[index] = 0
        self.closes_at[index] = None
        pattern = self.patterns[index]
        # show_first already printed a lone error: no summary for a window of one.
        if count == 0 or (count == 1 and pattern.show_first):
            return None
        return Summary(pattern.level, pattern.summary(count))
