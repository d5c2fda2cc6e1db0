"""The published-tables file, the comparison rules, and every published number reproduced."""
import pandas as pd
import pytest

import lmmbook
import lmmlib
from lmmbook.published import (
    COLUMNS,
    DISCREPANCY_COLUMNS,
    REASONS,
    RULES,
    compare_with_published,
    discrepancies,
    parse_printed,
    printed_decimals,
    published_values,
    to_printed_precision,
)
from lmmbook.reproductions import REPRODUCERS, reproduce

PUBLISHED = published_values()


@pytest.mark.parametrize("text, expected", [
    ("12.637", ("", 12.637)), ("-23,357.12", ("", -23357.12)), (".008", ("", 0.008)),
    ("< .0001", ("<", 0.0001)), ("6.13e-15", ("", 6.13e-15)), ("0", ("", 0.0)), ("≃ 0", ("", 0.0)),
])
def test_printed_numbers_are_parsed(text, expected):
    assert parse_printed(text) == expected


@pytest.mark.parametrize("text", ["", "n/a", "1,23.4", "--1"])
def test_unreadable_numbers_are_rejected(text):
    with pytest.raises(lmmlib.InputError, match="cannot read"):
        parse_printed(text)


def test_rounding_and_truncation_rules():
    assert to_printed_precision(45.7391, 2, "round") == 45.74
    assert to_printed_precision(45.7391, 2, "truncate") == 45.73
    assert to_printed_precision(-3.5891, 2, "truncate") == -3.58
    with pytest.raises(lmmlib.InputError):
        to_printed_precision(1.0, 2, "ceiling")


def test_published_file_is_well_formed():
    raw = pd.read_csv(lmmbook.published.PUBLISHED_TABLES_FILE, dtype=str)
    assert list(raw.columns) == COLUMNS
    assert not raw.isna().any().any()
    assert not raw.duplicated(["table_id", "row", "column"]).any()
    assert set(raw["rule"]) <= set(RULES)
    assert set(raw["deck"]) <= {"fox-lmm", "anderson-clustered"}
    declared = raw["decimals"].astype(int)
    shown = raw["published"].map(printed_decimals)
    assert (declared == shown).all(), raw[declared != shown]


def test_every_published_table_has_a_reproduction_and_vice_versa():
    assert set(PUBLISHED["table_id"]) == set(REPRODUCERS)


def test_a_wrong_value_does_not_match():
    layout = pd.DataFrame({"REML Estimate": [0.181]}, index=["rho"])
    assert not compare_with_published("fox-re-anova-icc", layout)["match"].any()


def test_a_reproduction_must_cover_every_published_cell():
    with pytest.raises(lmmlib.InputError, match="no value for row 'rho'"):
        compare_with_published("fox-re-anova-icc", pd.DataFrame({"ML Estimate": [0.18]}, index=["rho"]))


@pytest.fixture(scope="module")
def reproduced():
    """Reproduced tables, computed on first use; tables whose data are absent skip with instructions."""
    cache = {}

    def table(table_id):
        if table_id not in cache:
            try:
                cache[table_id] = reproduce(table_id)
            except lmmbook.DataFileMissingError as missing:
                cache[table_id] = missing
        if isinstance(cache[table_id], Exception):
            pytest.skip(str(cache[table_id]))
        return cache[table_id]
    return table


def test_discrepancies_file_is_well_formed_and_points_at_published_numbers():
    table = discrepancies()
    assert list(pd.read_csv(lmmbook.published.DISCREPANCIES_FILE, dtype=str).columns) == DISCREPANCY_COLUMNS
    assert set(table["reason"]) <= set(REASONS)
    assert table["explanation"].str.len().min() > 40
    published_cells = set(map(tuple, PUBLISHED[["table_id", "row", "column"]].values.tolist()))
    assert set(map(tuple, table[["table_id", "row", "column"]].values.tolist())) <= published_cells
    assert not table.duplicated(["table_id", "row", "column"]).any()


@pytest.mark.parametrize("table_id, row, column", PUBLISHED[["table_id", "row", "column"]].values.tolist())
def test_published_number_is_reproduced_or_its_difference_explained(reproduced, table_id, row, column):
    cell = reproduced(table_id).set_index(["row", "column"]).loc[(row, column)]
    where = (f"{table_id} {row}/{column}: published {cell['published']}, "
             f"reproduced {cell['reproduced']} ({cell['at printed precision']})")
    if cell["reason"]:
        assert not cell["match"], f"{where} now matches: remove it from data/discrepancies.csv"
    else:
        assert cell["match"], f"{where} differs and data/discrepancies.csv does not explain it"
