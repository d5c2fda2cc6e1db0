"""Several grouping factors against lme4 (``reference/multilevel_reference.R`` wrote
``multilevel_reference.csv``; the tests run without R).

Pastes (nested, and the casks wrongly crossed with batches), Penicillin (crossed), egsingle (three
levels: years within children within schools) and ScotsSec (primary crossed with secondary
school), with the one-factor models they are tested against, by REML and ML: the log-likelihood
within 1e-6 of lme4's best of four optimizer runs; fixed effects, their SEs, sigma and the SDs of
the random effects within 1e-4 relative, theta (ratios to sigma) and correlations 1e-4 absolute; the conditional modes
within 1e-4 of the SD of their effect and their conditional SDs 1e-4 relative.  These are the
comparisons of the book's appendix "Agreement with R".  InstEval is compared in
benchmarks/several_factors.py.
"""
from lmmbook.agreement import (
    multilevel_comparison,
    multilevel_loglik_comparison,
    outside_tolerance,
    reference_models,
)


def test_log_likelihoods_agree_with_lme4():
    table = multilevel_loglik_comparison()
    expected = {name for name in reference_models().MULTILEVEL_MODELS if name != "insteval"}
    assert set(table["model"]) == expected
    assert set(table["method"]) == {"REML", "ML"}
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()


def test_estimates_theta_and_modes_agree_with_lme4():
    table = multilevel_comparison()
    compared = table["quantity"].str.split().str[0].value_counts()
    assert {"fixef", "sigma", "theta", "sd", "cor", "mode"} <= set(compared.index)
    assert compared["mode"] > 1000
    assert outside_tolerance(table).empty, outside_tolerance(table).to_string()
