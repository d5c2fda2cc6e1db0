"""The data loaders: shapes, codings, the school-mean definition, and the NELS:88 file checks."""
import shutil

import numpy as np
import pandas as pd
import pytest

import lmmbook
from lmmbook import data


def test_hsb_is_one_student_level_frame(hsb):
    assert hsb.shape == (7185, 14)
    assert list(hsb.columns) == [c.lower() for c in hsb.columns]
    assert hsb["school"].nunique() == 160
    sectors = hsb.groupby("school")["sector"].agg(["min", "max"])
    assert (sectors["min"] == sectors["max"]).all(), "sector must be constant within a school"
    assert sectors["min"].value_counts().to_dict() == {0: 90, 1: 70}
    assert set(hsb["female"].unique()) == {0, 1} and set(hsb["minority"].unique()) == {0, 1}
    assert not hsb.isna().any().any()


def test_hsb_school_mean_is_the_mean_of_the_students_ses(hsb):
    by_school = hsb.groupby("school")
    np.testing.assert_allclose(hsb["meanses"], by_school["ses"].transform("mean"), atol=1e-12)
    np.testing.assert_allclose(by_school["cses"].mean(), 0, atol=1e-12)
    np.testing.assert_allclose(hsb["cses"], hsb["ses"] - hsb["meanses"], atol=1e-12)


def test_shipped_meanses_exceeds_the_students_mean_by_about_0_006_in_every_school(hsb):
    # documented in data/README.md: the shipped MEANSES is not the students' mean
    offset = hsb.groupby("school").first().eval("meanses_nlme - meanses")
    assert offset.between(0.0054, 0.0066).all()


def test_nels88_matches_the_expected_file(nels88):
    assert nels88.shape == (260, 19)
    sizes = nels88.groupby("schid").size()
    assert sizes.to_dict() == {7472: 23, 7829: 20, 7930: 24, 24725: 22, 25456: 22, 25642: 20,
                               62821: 67, 68448: 21, 68493: 21, 72292: 20}
    assert nels88["ses"].iloc[0] == -0.13  # read as the stored decimal, not float32 noise
    assert nels88["schid"].dtype == np.int64 and nels88["math"].dtype == np.float64


def test_missing_nels88_file_says_where_to_get_it_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path / "nowhere"))
    monkeypatch.setattr(data, "REPOSITORY_DATA_DIR", tmp_path / "repo-data")
    with pytest.raises(lmmbook.DataFileMissingError) as error:
        lmmbook.load_nels88()
    message = str(error.value)
    assert "imm10.dta" in message and "LMMLIB_DATA_DIR" in message
    assert "UCLA" in message and str(tmp_path / "nowhere") in message


def test_explicit_folder_without_the_file_is_reported(tmp_path):
    with pytest.raises(lmmbook.DataFileMissingError, match="not found"):
        lmmbook.load_nels88(tmp_path)


def test_wrong_file_under_the_right_name_is_rejected(tmp_path):
    pd.DataFrame({"schid": [1.0], "math": [50.0]}).to_stata(tmp_path / "imm10.dta", write_index=False)
    with pytest.raises(lmmbook.DataFileMismatchError, match="sha256"):
        lmmbook.load_nels88(tmp_path)


def test_nels88_is_found_through_the_environment_variable(nels88, tmp_path, monkeypatch):
    shutil.copy(lmmbook.find_nels88(), tmp_path / "imm10.dta")
    monkeypatch.setenv(data.DATA_DIR_VARIABLE, str(tmp_path))
    assert lmmbook.find_nels88() == tmp_path / "imm10.dta"
    pd.testing.assert_frame_equal(lmmbook.load_nels88(), nels88)
