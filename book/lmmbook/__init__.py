"""lmmbook: the book's own package -- its data, the lectures' tables and their reproduction.

The statistics live in :mod:`lmmlib`, the general mixed-model toolkit; this package
holds what belongs to the book *Linear Mixed Models in Python* alone: the loaders of
its two data sets, the numbers printed in the two lectures it follows (package data),
the functions that recompute and compare them, the reproducibility report and its
command (``lmmbook reproduce``), and the book's notebook style.

>>> import lmmbook
>>> lmmbook.load_hsb().shape
(7185, 14)
"""
from .data import DataFileMismatchError, DataFileMissingError, find_nels88, load_hsb, load_nels88
from .published import compare_with_published, discrepancies, explain_differences, published_values
from .reproductions import reproduce
from .simulation import naive_interval_coverage
from .style import (
    BLUE,
    COLUMN_WIDTH,
    LINE_LENGTH,
    ORANGE,
    RED,
    SECTOR_COLORS,
    SECTOR_NAMES,
    comparison_table,
    lecture_check,
    setup_notebook,
)

__all__ = [
    "load_hsb", "load_nels88", "find_nels88", "DataFileMissingError", "DataFileMismatchError",
    "published_values", "discrepancies", "explain_differences", "compare_with_published", "reproduce",
    "naive_interval_coverage", "comparison_table", "lecture_check", "setup_notebook", "SECTOR_COLORS", "SECTOR_NAMES",
    "BLUE", "ORANGE", "RED", "COLUMN_WIDTH", "LINE_LENGTH",
]
