"""Checking a mixed model's inputs and turning a DataFrame into y, X and Z.

Shared by :func:`lmmlib.fit_mixed`, the statsmodels cross-check and the
likelihood helpers, so that all of them read a model from the data the same way.

>>> import lmmlib
>>> design = model_design(lmmlib.load_hsb(), "mathach ~ cses", "school", "1 + cses")
>>> design.fixed_names, design.random_names, design.x.shape
(['Intercept', 'cses'], ['Intercept', 'cses'], (7185, 2))
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from .checks import require_columns, require_frame, require_numeric
from .errors import InputError

METHODS = ("ML", "REML")
#: patsy need not look for missing values: model_frame has dropped incomplete rows, and
#: _require_finite checks the matrices (also for values a transformation such as log(0) makes).
_NO_MISSING_CHECK = patsy.NAAction(NA_types=[])


def check_method(method: str) -> str:
    """``"ML"`` or ``"REML"`` (any case); InputError otherwise."""
    key = str(method).upper()
    if key not in METHODS:
        raise InputError(f"method must be 'ML' or 'REML', not {method!r}")
    return key


def model_frame(data: pd.DataFrame, formula: str, group: str, random: str) -> pd.DataFrame:
    """Check the inputs and return the rows and columns the model needs (complete cases).

    Rows with a missing value in a column the model uses are dropped with a
    warning that says how many.
    """
    require_frame(data, "fit_mixed")
    if not isinstance(group, str):
        raise InputError(f"group must be the name of a column, not {group!r}")
    require_columns(data, [group], f"the grouping variable of {formula!r}")
    random_columns = formula_variables(data, f"~{random}")
    used = formula_variables(data, formula) | random_columns
    response = formula.split("~")[0].strip()
    if response in data.columns:
        require_numeric(data, [response], f"the response of {formula!r}")
    require_numeric(data, sorted(random_columns), f"the random part ~{random}")
    frame = data[sorted(used | {group})]
    complete = frame.notna().all(axis=1)
    if not complete.all():
        dropped = int((~complete).sum())
        warnings.warn(f"fit_mixed dropped {dropped} row{'s' if dropped != 1 else ''} with missing "
                      f"values in {sorted(used | {group})}", UserWarning, stacklevel=3)
        frame = frame[complete]
    labels = frame[group].to_numpy()
    if len(labels) == 0 or np.all(labels == labels[0]):
        raise InputError(f"a mixed model needs at least 2 groups in {group!r}; "
                         f"the data have {min(len(labels), 1)}")
    return frame


def formula_variables(data: pd.DataFrame, formula: str) -> set[str]:
    """Names of the data columns a patsy formula refers to; InputError if it cannot be parsed.

    Names that are not columns are reported when the design is built (:func:`model_design`).
    """
    try:
        description = patsy.ModelDesc.from_formula(formula)
    except patsy.PatsyError as error:
        raise InputError(f"cannot read the formula {formula!r}: {error}") from None
    codes = [factor.code for term in description.lhs_termlist + description.rhs_termlist
             for factor in term.factors]
    tokens = {token for code in codes for token in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", code)}
    return tokens & set(data.columns)


@dataclass(frozen=True)
class ModelDesign:
    """The arrays of one model: response, fixed and random regressors, group labels."""

    frame: pd.DataFrame          # the complete rows used, with the data's index
    y: np.ndarray
    x: np.ndarray
    z: np.ndarray
    groups: np.ndarray
    fixed_names: list[str]
    random_names: list[str]


def model_design(data: pd.DataFrame, formula: str, group: str, random: str = "1") -> ModelDesign:
    """Check the inputs (see :func:`model_frame`) and build y, X and Z with patsy.

    Z is taken from the columns of X when every random term is a numeric term of
    the fixed part (the usual case), which saves a second pass over the rows.
    Raises InputError for a name that is not a column and if the fixed-effects
    columns are collinear, naming the rank.
    """
    frame = model_frame(data, formula, group, random)
    try:
        y, x = patsy.dmatrices(formula, frame, NA_action=_NO_MISSING_CHECK)
    except patsy.PatsyError as error:
        raise _build_error(error, formula) from None
    if y.shape[1] != 1:
        raise InputError(f"the response of {formula!r} must be one numeric column, not {y.design_info.column_names}")
    y_array, x_array = np.asarray(y)[:, 0], np.asarray(x)
    _require_finite(y_array, formula)
    _require_finite(x_array, formula)
    _require_full_rank(x_array, formula)
    shared = _columns_of_x_in_z(random, x.design_info)
    if shared is not None:
        contiguous = bool(np.all(np.diff(shared) == 1))
        z_array = x_array[:, shared[0]:shared[-1] + 1] if contiguous else x_array[:, shared]  # a view if it can be
        random_names = [x.design_info.column_names[k] for k in shared]
    else:
        try:
            z = patsy.dmatrix(f"~{random}", frame, NA_action=_NO_MISSING_CHECK)
        except patsy.PatsyError as error:
            raise _build_error(error, f"~{random}") from None
        z_array, random_names = np.asarray(z), z.design_info.column_names
        _require_finite(z_array, f"~{random}")
    return ModelDesign(frame=frame, y=y_array, x=x_array, z=z_array,
                       groups=frame[group].to_numpy(), fixed_names=list(x.design_info.column_names),
                       random_names=list(random_names))


def _build_error(error: patsy.PatsyError, formula: str) -> InputError:
    """The InputError for a patsy failure: names an unknown column if that is the cause."""
    unknown = re.search(r"name '([^']+)' is not defined", str(error))
    if unknown:
        return InputError(f"the formula {formula!r} uses {unknown.group(1)!r}, which is not a column of "
                          "the data; check the spelling or add the column")
    return InputError(f"cannot build the model {formula!r}: {error}")


def _columns_of_x_in_z(random: str, fixed: patsy.DesignInfo) -> np.ndarray | None:
    """Indices of the columns of X that form Z, if every random term is a numeric term of the fixed part.

    None otherwise.  A numeric term has the same columns in any formula, and
    patsy puts the intercept first and the other numeric terms in formula order.

    >>> import lmmlib
    >>> fixed = patsy.dmatrix("~ meanses + cses", lmmlib.load_hsb().head()).design_info
    >>> _columns_of_x_in_z("cses + 1", fixed).tolist(), _columns_of_x_in_z("1 + ses", fixed)
    ([0, 2], None)
    """
    terms = patsy.ModelDesc.from_formula(f"~{random}").rhs_termlist
    by_name = {term.name(): columns for term, columns in fixed.term_slices.items()}  # a:b and b:a differ in name
    if not terms or not all(term.name() in by_name and all(
            fixed.factor_infos[factor].type == "numerical" for factor in term.factors) for term in terms):
        return None
    ordered = sorted(terms, key=lambda term: len(term.factors) > 0)
    return np.concatenate([np.arange(by_name[term.name()].start, by_name[term.name()].stop) for term in ordered])


def _require_finite(values: np.ndarray, formula: str) -> None:
    """InputError if a transformation in *formula* made a missing or infinite value."""
    if not np.isfinite(values).all():
        raise InputError(f"the formula {formula!r} gives missing or infinite values (for example the log of "
                         "0 or of a negative number); change the transformation or drop those rows")


def _require_full_rank(x: np.ndarray, formula: str) -> None:
    """InputError if X'X, scaled to unit diagonal, is numerically singular."""
    xtx = x.T @ x
    scale = np.sqrt(np.diag(xtx))
    if np.any(scale == 0):
        raise InputError(f"a fixed-effects column of {formula!r} is all zero; drop that term")
    eigenvalues = np.linalg.eigvalsh(xtx / np.outer(scale, scale))
    rank = int(np.sum(eigenvalues > 1e-10 * eigenvalues.max()))
    if rank < x.shape[1]:
        raise InputError(f"the fixed effects of {formula!r} are collinear (the design has rank "
                         f"{rank} < {x.shape[1]} columns); drop a term")
