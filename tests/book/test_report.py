"""The reproducibility report and its command line (what the chapters show of it: test_lecture_tables)."""
import json
from pathlib import Path

import pandas as pd
import pytest

import lmmbook
import lmmlib
from lmmbook import data, published
from lmmbook import report as report_module
from lmmbook.__main__ import main
from lmmbook.reproductions import CHAPTERS, REPRODUCERS

ROOT = Path(__file__).resolve().parents[2]
FOX_TABLES = [t for t in REPRODUCERS if t.startswith("fox-")]


@pytest.fixture(scope="module")
def full_report():
    if lmmbook.requirements.missing_data_message("nels88"):
        pytest.skip(lmmbook.requirements.missing_data_message("nels88"))
    return report_module.reproducibility_report()


def test_every_published_number_has_a_status_and_differences_are_exactly_the_explained(full_report):
    assert len(full_report) == len(lmmbook.published_values())
    assert set(full_report["status"]) <= {report_module.MATCH, report_module.DIFFERS}
    differing = set(map(tuple, full_report.loc[full_report["status"] == report_module.DIFFERS,
                                               ["table_id", "row", "column"]].values.tolist()))
    explained = set(map(tuple, lmmbook.discrepancies()[["table_id", "row", "column"]].values.tolist()))
    assert differing == explained
    assert not report_module.failed(full_report)
    assert full_report.loc[full_report["status"] == report_module.DIFFERS, "explanation text"].str.len().min() > 40
    # the lecture's model 2 (no random intercepts) has its slope variance on the boundary
    assert any(note.startswith("fox-cao-loglik: ") and "'cses' effect is estimated as 0" in note
               for note in full_report.attrs["boundary"])


def test_a_new_difference_fails_the_report(tmp_path, monkeypatch):
    trimmed = tmp_path / "discrepancies.csv"
    table = lmmbook.discrepancies()
    table[table["table_id"] != "fox-rc"].to_csv(trimmed, index=False)
    monkeypatch.setattr(published, "DISCREPANCIES_FILE", trimmed)
    result = report_module.reproducibility_report(["fox-rc"])
    assert (result["status"] == report_module.UNEXPLAINED).sum() == 3
    assert report_module.failed(result)
    assert main(["reproduce", "--table", "fox-rc"]) == 1


def test_an_explanation_for_a_matching_number_fails_the_report(tmp_path, monkeypatch):
    extended = tmp_path / "discrepancies.csv"
    extra = pd.DataFrame([{"table_id": "fox-re-anova", "row": "sigma", "column": "ML Estimate",
                           "reason": "lecture-slip", "explanation": "a stale explanation " * 3}])
    pd.concat([lmmbook.discrepancies(), extra]).to_csv(extended, index=False)
    monkeypatch.setattr(published, "DISCREPANCIES_FILE", extended)
    result = report_module.reproducibility_report(["fox-re-anova"])
    assert result.set_index(["row", "column"]).loc[("sigma", "ML Estimate"), "status"] == report_module.STALE
    assert report_module.failed(result)


@pytest.fixture
def without_nels_data(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    monkeypatch.setattr(data, "REPOSITORY_DATA_DIR", tmp_path)
    lmmbook.reproductions.clear_caches()
    yield
    lmmbook.reproductions.clear_caches()


def test_missing_nels_data_is_reported_as_not_run_with_instructions(without_nels_data, capsys):
    result = report_module.reproducibility_report(["fox-re-anova", "anderson-fe-anova"])
    nels = result[result["table_id"] == "anderson-fe-anova"]
    assert (nels["status"] == report_module.NOT_RUN).all()
    assert nels["explanation text"].str.contains("LMMLIB_DATA_DIR").all()
    assert not report_module.failed(result)
    assert main(["reproduce", "--table", "fox-re-anova", "--table", "anderson-fe-anova"]) == 0
    assert "imm10.dta" in capsys.readouterr().out


def test_json_records_carry_full_precision(capsys):
    assert main(["reproduce", "--json", "--table", "fox-re-anova-icc"]) == 0
    captured = capsys.readouterr()
    [record] = json.loads(captured.out)
    assert set(record) == {"table_id", "row", "column", "published", "decimals", "rule", "reproduced",
                           "status", "explanation"}
    assert record["reproduced"] == pytest.approx(lmmlib.intraclass_correlation(
        lmmlib.fit_mixed(lmmbook.load_hsb(), "mathach ~ 1", "school")), abs=1e-12)
    assert "reproducing fox-re-anova-icc (1/1)" in captured.err


def test_unknown_table_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["reproduce", "--table", "no-such-table"])
    assert exit_info.value.code == 2 and "unknown table ids" in capsys.readouterr().err


def test_every_table_is_reproduced_in_a_chapter_of_the_book():
    assert set(CHAPTERS) == set(REPRODUCERS)
    toc = (ROOT / "_toc.yml").read_text()
    for chapter in set(CHAPTERS.values()):
        assert f"chapters/{chapter}\n" in toc, f"{chapter} is not in _toc.yml"
