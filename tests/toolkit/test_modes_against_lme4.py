"""Conditional modes of the random effects and their conditional standard deviations, against
lme4's ``ranef(fit, condVar = TRUE)`` (``reference/modes_reference.R`` wrote
``modes_reference.csv``; the tests run without R).

Tolerances: 1e-5 relative for the conditional standard deviations (as the issue asks), and
for the modes 1e-5 of their spread (a mode near zero has no relative precision).  Both
programs treat the fixed effects as known in the conditional variance.
"""
from lmmbook.agreement import modes_comparison, outside_tolerance


def test_modes_and_their_conditional_sds_agree_with_lme4():
    """Three models by REML and ML, every group and term (the comparison of the book's appendix)."""
    table = modes_comparison()
    assert set(table["model"]) == {"hsb_slope", "sleepstudy", "orthodont"}
    assert set(table["method"]) == {"REML", "ML"}
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()
