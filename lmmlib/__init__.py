"""lmmlib: the helper library of the textbook *Linear Mixed Models in Python*.

Functions take a pandas DataFrame and return a DataFrame or a small result object.

>>> import lmmlib
>>> hsb = lmmlib.load_hsb()
>>> fit = lmmlib.fit_mixed(hsb, "mathach ~ 1", group="school", method="REML")
>>> fit.fixed.columns.tolist()
['estimate', 'se', 'z']
"""
from . import plots
from .bootstrap import BootstrapLikelihoodRatioTest, parametric_bootstrap_lrt, simulated_responses
from .refit import ResponseRefit
from .data import find_nels88, load_hsb, load_nels88
from .display import comparison_table, fixed_decimals, setup_notebook
from .errors import (ConvergenceError, DataFileMismatchError, DataFileMissingError, InputError,
                     LmmlibError)
from .fitting import (BoundaryWarning, ConvergenceWarning, MethodComparison, MixedFit, compare_ml_reml,
                      fit_mixed, intraclass_correlation)
from .groupwise import center_within_groups, describe_by_group, level2_columns, ols_by_group
from .likelihood_ratio import LikelihoodRatioTest, likelihood_ratio_test, mixture_pvalue
from .marginal import (design_matrices, fixed_design, marginal_covariance, marginal_variance,
                       predict_fixed)
from .published import compare_with_published, discrepancies, explain_differences, published_values
from .regression import coefficient_table, fit_ols, fit_statistics, ml_f_test, regression_anova
from .reproductions import reproduce
from .simulation import naive_interval_coverage
from .statsmodels_check import compare_with_statsmodels, fit_statsmodels

__all__ = [
    "load_hsb", "load_nels88", "find_nels88",
    "fit_mixed", "fit_statsmodels", "compare_with_statsmodels", "compare_ml_reml", "intraclass_correlation", "MixedFit", "MethodComparison",
    "center_within_groups", "describe_by_group", "level2_columns", "ols_by_group",
    "fit_ols", "regression_anova", "fit_statistics", "coefficient_table", "ml_f_test",
    "likelihood_ratio_test", "mixture_pvalue", "LikelihoodRatioTest",
    "parametric_bootstrap_lrt", "BootstrapLikelihoodRatioTest", "ResponseRefit", "simulated_responses",
    "design_matrices", "fixed_design", "marginal_covariance", "marginal_variance", "predict_fixed",
    "naive_interval_coverage", "plots",
    "published_values", "discrepancies", "explain_differences", "compare_with_published", "reproduce",
    "comparison_table", "fixed_decimals", "setup_notebook",
    "BoundaryWarning", "ConvergenceWarning", "LmmlibError", "InputError", "DataFileMissingError",
    "DataFileMismatchError", "ConvergenceError",
]
