"""The book's look: notebook settings, the two sectors' colours and names, published-number tables.

:func:`lecture_check` is the compact form a chapter shows (the lecture's layout and a ✓/✗
column); :func:`comparison_table` the full one, cell by cell, for the Errata appendix.

>>> comparison = pd.DataFrame({"row": ["rho"], "column": ["REML Estimate"], "published": ["0.180"],
...                            "reproduced": [0.18035], "at printed precision": ["0.180"], "rule": ["round"],
...                            "match": [True], "reason": [""]})
>>> comparison_table(comparison)[["published", "reproduced", "match"]].values.tolist()
[['0.180', '0.18035', '✓']]
"""
from __future__ import annotations

import textwrap
import warnings

import pandas as pd

from lmmlib import fixed_decimals

#: Longest line of code or printed output in a chapter: what the HTML book's code column
#: shows without scrolling on a 1280 px screen (checked by tests/book/test_presentation.py).
LINE_LENGTH = 79

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


def lecture_check(comparison: pd.DataFrame) -> pd.DataFrame:
    """A lecture's table as the chapter shows it: the reproduced values at the precision the
    lecture printed, laid out as the lecture laid them out, and a column that says, row by row,
    whether every number agrees with the printed one (✓) or which printed numbers differ (✗).

    *comparison* is the output of :func:`lmmbook.compare_with_published` (one row per printed
    number).  The explanations of the differences are in the Errata appendix and in the
    reproducibility report; the table id is kept in ``attrs`` (it is not shown).

    >>> comparison = pd.DataFrame({"row": ["beta", "beta", "psi"], "column": ["ML", "REML", "ML"],
    ...                            "published": ["1.23", "1.24", "0.823"],
    ...                            "reproduced": [1.2301, 1.2399, 0.82249],
    ...                            "at printed precision": ["1.23", "1.24", "0.822"],
    ...                            "rule": "round", "match": [True, True, False], "reason": ""})
    >>> lecture_check(comparison).values.tolist()
    [['1.23', '1.24', '✓'], ['0.822', '', '✗ ML 0.823']]
    """
    rows = list(dict.fromkeys(comparison["row"]))
    columns = list(dict.fromkeys(comparison["column"]))
    shown = (comparison.pivot(index="row", columns="column", values="at printed precision")
             .reindex(index=rows, columns=columns).fillna(""))
    several = len(columns) > 1

    def verdict(cells: pd.DataFrame) -> str:
        differing = cells[~cells["match"].astype(bool)]
        if differing.empty:
            return "✓"
        printed = (f"{column} {value}" if several else value
                   for column, value in zip(differing["column"], differing["published"]))
        return "✗ " + ", ".join(printed)

    shown["lecture"] = [verdict(comparison[comparison["row"] == row]) for row in rows]
    shown.index.name = None
    shown.columns.name = None
    shown.attrs["table_id"] = comparison.attrs.get("table_id")
    return shown


def more_digits(value: float, printed: str) -> str:
    """*value* with two more digits than *printed* shows (e-notation stays e-notation).

    >>> more_digits(12.63666, "12.637"), more_digits(0.000123, "1.2e-04")
    ('12.63666', '1.230e-04')
    """
    mantissa = printed.lower().split("e")[0]
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return f"{value:.{digits + 2}e}" if "e" in printed.lower() else f"{value:.{digits + 2}f}"


#: Width of a figure in inches: the text column of the HTML book (about 740 px on a
#: 1280 px screen) at the figures' resolution, so that a figure is shown at its drawn size
#: and its fonts keep their size in points.
COLUMN_WIDTH = 6.5
FIGURE_DPI = 110


def setup_notebook() -> None:
    """Pandas, matplotlib and warning settings shared by all chapters: figures as wide as
    the text column, fonts legible there and on a projector, warnings as wrapped text.

    Figures are stored at twice their resolution ("retina"), shown at their drawn size in
    the book and sharp when a slide shows them larger.
    """
    import matplotlib as mpl
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    warnings.formatwarning = book_warning
    set_matplotlib_formats("retina")

    pd.set_option("display.precision", 4)
    pd.set_option("display.max_columns", 20)
    pd.set_option("display.max_colwidth", 100)
    mpl.rcParams.update({
        "figure.figsize": (COLUMN_WIDTH, 4.0),
        "figure.dpi": FIGURE_DPI,
        "savefig.dpi": FIGURE_DPI,
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "xtick.labelsize": 10,
        "ytick.labelsize": 10,
        "legend.fontsize": 10,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })


def book_warning(message, category, filename, lineno, line=None) -> str:
    """A warning as a chapter prints it: its kind and its message, wrapped to the code column
    (the file and line of the notebook cell that caused it mean nothing to a reader).

    >>> print(book_warning("the fit is singular: " + "x " * 40, UserWarning, "cell.py", 3), end="")
    UserWarning: the fit is singular: x x x x x x x x x x x x x x x x x x x x x x x x x
    x x x x x x x x x x x x x x x
    """
    text = f"{category.__name__}: {message}"
    return "\n".join(textwrap.wrap(text, LINE_LENGTH, break_on_hyphens=False)) + "\n"
