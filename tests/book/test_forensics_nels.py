"""The evidence of the clustered-data Errata appendix, checked on the NELS:88 file."""
import numpy as np
import pandas as pd

import lmmbook
import lmmlib
from lmmbook.forensics_nels import group_summaries, implied_predictor_moments, r2_search, rounding_rules


def _printed(table_id):
    return lmmbook.published_values(table_id).set_index(["row", "column"])["value"]


def _stage_one(nels88):
    fits = lmmlib.ols_by_group(nels88, "math ~ homework", "schid")
    return fits.pivot(index="schid", columns="term", values="estimate").rename(
        columns={"Intercept": "beta_0j", "homework": "beta_1j"})


def test_the_school_rows_of_the_descriptive_table_were_truncated(nels88):
    means = nels88.groupby("schid")["math"].mean()
    printed = _printed("anderson-descriptives").xs("Mean", level="column")
    rules = rounding_rules(means, pd.Series({s: printed[str(s)] for s in means.index}), 2)
    assert len(rules) >= 3 and (rules["rule"] == "truncate").all()


def test_no_school_level_quantity_of_the_file_gives_the_lectures_r2(nels88):
    stage_one = _stage_one(nels88)
    target = {"beta_0j": float(_printed("anderson-stage2-int-meanses-fit")[("fit", "R-Square")]),
              "beta_1j": float(_printed("anderson-stage2-slope-meanses-fit")[("fit", "R-Square")])}
    search = r2_search(group_summaries(nels88, "schid"), stage_one, target)
    assert search["distance"].min() > 0.05
    assert "meanses" in search.loc[search["candidate"].str.contains("mean\\(ses\\)"), "candidate"].iloc[0]


def test_the_lectures_two_regressions_imply_one_predictor_unlike_the_files_meanses(nels88):
    stage_one = _stage_one(nels88)
    implied = []
    for key, column in (("int", "beta_0j"), ("slope", "beta_1j")):
        fit = _printed(f"anderson-stage2-{key}-meanses-fit")
        coef = _printed(f"anderson-stage2-{key}-meanses-coef")
        implied.append(implied_predictor_moments(
            fit[("fit", "Dependent Mean")], stage_one[column].var(), coef[("Intercept", "Parameter Estimate")],
            coef[("meanSES", "Parameter Estimate")], fit[("fit", "R-Square")]))
    np.testing.assert_allclose(implied[0], implied[1], atol=0.002)
    file_mean = nels88.groupby("schid")["meanses"].first().mean()
    assert abs(implied[0][0] - file_mean) > 0.03
