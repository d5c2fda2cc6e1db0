"""A one-line text progress bar for long simulations, with output that is the same on every run.

The bar shows only how many steps are done, never a time or a rate, so a notebook
that stores it compares equal from run to run.  It is redrawn in place with a
carriage return each time another character of the bar fills (at most ``width``
times) and ends with a newline.

>>> import io
>>> stream = io.StringIO()
>>> bar = ProgressBar(4, "bootstrap", width=4, stream=stream)
>>> for done in range(1, 5):
...     bar.update(done)
>>> stream.getvalue().split("\\r")[-1]
'bootstrap [####] 4/4\\n'
"""
from __future__ import annotations

import sys
from typing import TextIO

from .errors import InputError


class ProgressBar:
    """Draw ``label [####------] done/total`` on *stream* (standard error by default)."""

    def __init__(self, total: int, label: str, width: int = 20, stream: TextIO | None = None) -> None:
        if total < 1 or width < 1:
            raise InputError(f"a progress bar needs total >= 1 and width >= 1, not {total} and {width}")
        self.total, self.label, self.width = total, label, width
        self.stream = stream if stream is not None else sys.stderr
        self._filled = -1
        self.update(0)

    def update(self, done: int) -> None:
        """Show *done* steps out of the total; redraw only when the bar gains a character or ends."""
        filled = self.width * done // self.total
        if filled == self._filled and done < self.total:
            return
        self._filled = filled
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= self.total else ""
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total}{end}")
        self.stream.flush()
