"""The book's look: notebook settings, the two sectors' colours and names, published-number tables.

>>> comparison = pd.DataFrame({"row": ["rho"], "column": ["REML Estimate"], "published": ["0.180"],
...                            "reproduced": [0.18035], "at printed precision": ["0.180"], "rule": ["round"],
...                            "match": [True], "reason": [""]})
>>> comparison_table(comparison)[["published", "reproduced", "match"]].values.tolist()
[['0.180', '0.18035', '✓']]
"""
from __future__ import annotations

import pandas as pd

from lmmlib import fixed_decimals

#: The book's colours: three of seaborn's "deep" palette, so that seaborn's figures and the
#: hand-drawn ones match.
BLUE, ORANGE, RED = "#4C72B0", "#DD8452", "#C44E52"
#: Colours used for the two sectors of the HSB schools throughout the book.
SECTOR_COLORS = {0: RED, 1: BLUE}
SECTOR_NAMES = {0: "Public", 1: "Catholic"}


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """A published-versus-reproduced comparison ready to show: the reproduced value is
    written with two more decimals than the published one, ``match`` as a check mark.

    *comparison* is the output of :func:`lmmbook.compare_with_published` or
    :func:`lmmbook.reproduce`; its table id labels the columns (shown at the top left),
    which is also how the tests find the table in a chapter's stored outputs.
    """
    shown = comparison.drop(columns=["rule"]).copy()
    shown["reproduced"] = [more_digits(value, printed) for value, printed
                           in zip(comparison["reproduced"], comparison["at printed precision"])]
    shown = fixed_decimals(shown, {})
    shown.columns.name = comparison.attrs.get("table_id")
    return shown


def more_digits(value: float, printed: str) -> str:
    """*value* with two more digits than *printed* shows (e-notation stays e-notation).

    >>> more_digits(12.63666, "12.637"), more_digits(0.000123, "1.2e-04")
    ('12.63666', '1.230e-04')
    """
    mantissa = printed.lower().split("e")[0]
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return f"{value:.{digits + 2}e}" if "e" in printed.lower() else f"{value:.{digits + 2}f}"


def setup_notebook() -> None:
    """Pandas and matplotlib settings shared by all chapters (readable at slide size)."""
    import matplotlib as mpl

    pd.set_option("display.precision", 4)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_colwidth", 100)
    mpl.rcParams.update({
        "figure.figsize": (8, 4.5),
        "figure.dpi": 110,
        "savefig.dpi": 110,
        "font.size": 12,
        "axes.titlesize": 13,
        "axes.labelsize": 12,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
