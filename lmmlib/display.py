"""Presentation helpers: fixed-precision tables and one plotting style for every chapter.

Chapters print numbers through :func:`fixed_decimals` so that stored outputs are
identical from run to run (nbval compares them as text).

>>> import pandas as pd
>>> fixed_decimals(pd.DataFrame({"x": [1.23456, None]}), 2)["x"].tolist()
['1.23', '']
"""
from __future__ import annotations

from collections.abc import Mapping

import matplotlib as mpl
import pandas as pd
from pandas.api.types import is_bool_dtype, is_float_dtype


def fixed_decimals(table: pd.DataFrame, decimals: int | Mapping[str, int]) -> pd.DataFrame:
    """Return a copy of *table* with float columns written as text at fixed decimals.

    *decimals* is one number for every float column, or a mapping from column name
    to decimals (columns not named keep their values).  Missing values become ''.
    Booleans become a check mark or a cross.
    """
    result = table.copy()
    for column in result.columns:
        series = result[column]
        if is_bool_dtype(series):
            result[column] = series.map({True: "✓", False: "✗"})
            continue
        places = decimals.get(column) if isinstance(decimals, Mapping) else decimals
        if places is None or not is_float_dtype(series):
            continue
        result[column] = series.map(lambda v, d=places: "" if pd.isna(v) else f"{v:.{d}f}")
    return result


def comparison_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """A published-versus-reproduced comparison ready to show: the reproduced value is
    written with two more decimals than the published one, ``match`` as a check mark.

    *comparison* is the output of :func:`lmmlib.compare_with_published` or
    :func:`lmmlib.reproduce`; its table id labels the columns (shown at the top left),
    which is also how the tests find the table in a chapter's stored outputs.
    """
    shown = comparison.drop(columns=["rule"]).copy()
    shown["reproduced"] = [more_digits(value, printed) for value, printed
                           in zip(comparison["reproduced"], comparison["at printed precision"])]
    shown = fixed_decimals(shown, {})
    shown.columns.name = comparison.attrs.get("table_id")
    return shown


def more_digits(value: float, printed: str) -> str:
    """*value* with two more digits than *printed* shows (e-notation stays e-notation)."""
    mantissa = printed.lower().split("e")[0]
    digits = len(mantissa.split(".")[1]) if "." in mantissa else 0
    return f"{value:.{digits + 2}e}" if "e" in printed.lower() else f"{value:.{digits + 2}f}"


def setup_notebook() -> None:
    """Pandas and matplotlib settings shared by all chapters (readable at slide size)."""
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
