"""lmmlib: linear mixed models in Python, fitted by the profiled likelihood and checked at every step.

Models are written as in lme4; a fit keeps its model and displays itself as lme4's
``summary()`` does.  Functions take a pandas DataFrame and return a DataFrame or a
small result object.

>>> import lmmlib
>>> data = lmmlib.examples.two_level_data()
>>> fit = lmmlib.fit_mixed(data, "y ~ x + (1 + x | group)", method="REML")
>>> fit.fixed.columns.tolist(), fit.random_cov.index.tolist()
(['estimate', 'se', 'z'], ['Intercept', 'x'])

Modules that need statsmodels or matplotlib (the cross-check, least squares, the
plots) are imported on first use, so that ``import lmmlib`` stays quick.
"""
from importlib import import_module

from . import examples
from .bootstrap import BootstrapLikelihoodRatioTest, bootstrap_intervals, parametric_bootstrap_lrt, simulated_responses
from .checking import conditional_modes, residuals
from .display import FitSummary, fixed_decimals, p_value
from .errors import (
    BoundaryWarning,
    ConvergenceError,
    ConvergenceWarning,
    DroppedRowsWarning,
    InputError,
    LmmlibError,
    LmmlibWarning,
    NestingWarning,
)
from .explained_variance import explained_variance, variance_reduction
from .fitting import MethodComparison, MixedFit, compare_ml_reml, fit_mixed, intraclass_correlation
from .gls import GlsFit, fit_gls
from .groupwise import center_within_groups, describe_by_group, level2_columns, ols_by_group
from .influence import group_influence
from .likelihood import loglik_at, variance_parameter_se
from .likelihood_ratio import LikelihoodRatioTest, likelihood_ratio_test, mixture_pvalue
from .marginal import (
    design_matrices,
    fixed_design,
    marginal_correlation,
    marginal_covariance,
    marginal_variance,
    predict_fixed,
    random_design,
)
from .model import MixedModel
from .multilevel import MultilevelFit, MultilevelModel
from .power import fixed_effect_tests, power_curve, simulated_size, two_level_design
from .prediction import predict
from .profile import likelihood_profile, profile_intervals, wald_intervals
from .refit import ResponseRefit
from .serial import AR1, CAR1, CompoundSymmetry, VarIdent, phi_interval, sd_ratio_intervals
from .shrinkage import shrinkage
from .small_sample import (
    kenward_roger_covariance,
    kenward_roger_f_test,
    kenward_roger_tests,
    satterthwaite_f_test,
    satterthwaite_tests,
)

#: name -> module, imported when the name is first used (statsmodels, matplotlib)
_LAZY = {
    "fit_statsmodels": "statsmodels_check", "compare_with_statsmodels": "statsmodels_check",
    "StatsmodelsComparison": "statsmodels_check",
    "fit_ols": "regression", "regression_anova": "regression", "fit_statistics": "regression",
    "coefficient_table": "regression", "ml_f_test": "regression",
    "plots": None,
}

__all__ = [
    "MixedModel", "MixedFit", "fit_mixed", "compare_ml_reml", "MethodComparison", "intraclass_correlation",
    "MultilevelModel", "MultilevelFit",
    "AR1", "CAR1", "CompoundSymmetry", "fit_gls", "GlsFit", "phi_interval",
    "VarIdent", "sd_ratio_intervals",
    "FitSummary", "fixed_decimals", "p_value", "examples",
    "loglik_at", "variance_parameter_se",
    "profile_intervals", "wald_intervals", "likelihood_profile", "bootstrap_intervals",
    "satterthwaite_tests", "satterthwaite_f_test",
    "kenward_roger_tests", "kenward_roger_f_test", "kenward_roger_covariance", "shrinkage", "group_influence",
    "residuals", "conditional_modes",
    "likelihood_ratio_test", "mixture_pvalue", "LikelihoodRatioTest",
    "parametric_bootstrap_lrt", "BootstrapLikelihoodRatioTest", "ResponseRefit", "simulated_responses",
    "fixed_effect_tests", "simulated_size", "power_curve", "two_level_design",
    "design_matrices", "fixed_design", "random_design",
    "marginal_covariance", "marginal_correlation", "marginal_variance",
    "predict_fixed", "predict",
    "center_within_groups", "describe_by_group", "level2_columns", "ols_by_group",
    "explained_variance", "variance_reduction",
    "LmmlibError", "InputError", "ConvergenceError",
    "LmmlibWarning", "BoundaryWarning", "ConvergenceWarning", "DroppedRowsWarning", "NestingWarning",
    *_LAZY,
]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'lmmlib' has no attribute {name!r}")
    module = import_module(f".{_LAZY[name] or name}", __name__)
    value = module if _LAZY[name] is None else getattr(module, name)
    globals()[name] = value
    return value
