"""Reading a mixed model from a DataFrame: the rows it uses and its matrices y, X and Z.

This is the one module that uses a formula library (patsy), so that factors,
interactions and transformations mean what they mean in statsmodels.  When every
term is numeric -- columns, their products (interactions) and arithmetic inside
``I()`` -- the matrices are built directly from the columns, which gives patsy's
matrix (same columns, same order, same names) several times faster; anything else
goes through patsy.  :func:`new_rows_matrix` builds the matrices of new rows with
what the model learnt from its own rows (the levels of a factor, and the mean and
SD that the stateful transforms ``center()`` and ``standardize()`` use).

>>> from lmmlib.formula import parse_formula
>>> data = pd.DataFrame({"y": [1.0, 2.0, 4.0, 3.0], "days": [0, 1, 0, 1], "g": ["a", "a", "b", "b"]})
>>> design = model_design(data, parse_formula("y ~ days + (days || g)"))
>>> design.fixed_names, design.random_names, design.x.shape, design.blocks
(['Intercept', 'days'], ['Intercept', 'days'], (4, 2), (1, 1))
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from types import CodeType

import numpy as np
import pandas as pd
import patsy

from .checks import require_columns, require_frame, require_numeric
from .errors import DroppedRowsWarning, InputError, warn
from .formula import MixedFormula, python_powers

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


def model_frame(data: pd.DataFrame, formula: MixedFormula) -> pd.DataFrame:
    """Check the inputs and return the rows the model can use (complete cases).

    Rows with a missing value in a column the model uses are dropped with a
    :class:`~lmmlib.errors.DroppedRowsWarning` that says how many; when none is
    missing, *data* itself is returned (it is read, never changed).
    """
    require_frame(data, "fit_mixed")
    grouping = sorted({column for factor in formula.factors for column in factor.split(":")})
    require_columns(data, grouping, f"the grouping variables of {formula.text!r}")
    random_columns = set().union(*(formula_variables(data, f"~{term.expression}")
                                   for term in formula.random_terms))
    used = sorted(formula_variables(data, formula.fixed) | random_columns | set(grouping))
    if formula.response in data.columns:
        require_numeric(data, [formula.response], f"the response of {formula.text!r}")
    complete = ~np.logical_or.reduce([pd.isna(data[column].to_numpy()) for column in used])
    frame = data
    if not complete.all():
        dropped = int((~complete).sum())
        warn(f"{dropped} row{'s' if dropped != 1 else ''} with missing values in {used} "
                      f"left out of {formula.text!r}", DroppedRowsWarning)
        frame = data.loc[complete, used]
    for factor in formula.factors:
        labels = [frame[column].to_numpy() for column in factor.split(":")]
        if len(frame) == 0 or all(np.all(column == column[0]) for column in labels):
            raise InputError(f"a mixed model needs at least 2 groups in {factor!r}; the data have "
                             f"{min(len(frame), 1)}: a "
                             "grouping factor with one level has no variance between its groups to estimate, "
                             f"remove its random term{'s' if len(formula.terms_of(factor)) > 1 else ''}")
    return frame


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two codings of the rows put the same rows together (the labels aside).

    >>> same_partition(np.array([0, 0, 1, 2]), np.array([5, 5, 3, 4]))
    True
    >>> same_partition(np.array([0, 0, 1]), np.array([0, 1, 1]))
    False
    """
    pairs = len(pd.MultiIndex.from_arrays([first, second]).unique())
    return pairs == len(np.unique(first)) == len(np.unique(second))


def factor_codes(frame: pd.DataFrame, factor: str) -> tuple[np.ndarray, np.ndarray]:
    """The level of each row as 0..m-1 (in order of first appearance) and the m labels, for a
    grouping column or a combination of columns ``a:b`` (labelled ``"a-label:b-label"``, as lme4 does).

    >>> frame = pd.DataFrame({"school": [1, 1, 2, 2], "class": ["a", "b", "a", "a"]})
    >>> codes, labels = factor_codes(frame, "school:class")
    >>> codes.tolist(), labels.tolist()
    ([0, 1, 2, 2], ['1:a', '1:b', '2:a'])
    """
    columns = factor.split(":")
    if len(columns) == 1:
        codes, labels = pd.factorize(frame[factor].to_numpy())
        return codes, np.asarray(labels)
    codes, uniques = pd.factorize(pd.MultiIndex.from_frame(frame[columns]))
    labels = np.array([":".join(str(part) for part in level) for level in uniques], dtype=object)
    return codes, labels


def formula_variables(data: pd.DataFrame, formula: str) -> set[str]:
    """Names of the data columns a patsy formula refers to; InputError if it cannot be parsed.

    Names that are not columns are reported when the design is built (:func:`model_design`).
    """
    return {name for name in _names_in(formula) if name in data.columns}


@lru_cache(maxsize=256)
def _names_in(formula: str) -> frozenset[str]:
    """Every name-like token in the factors of *formula* (columns, and functions such as np or log)."""
    description = parsed_formula(formula)
    codes = [factor.code for term in description.lhs_termlist + description.rhs_termlist
             for factor in term.factors]
    return frozenset(token for code in codes for token in re.findall(r"[A-Za-z_][A-Za-z_0-9]*", code))


def parsed_formula(formula: str) -> patsy.ModelDesc:
    """patsy's reading of *formula* (its terms and factors); InputError if it cannot be parsed.

    >>> [term.name() for term in parsed_formula("y ~ a * b").rhs_termlist]
    ['Intercept', 'a', 'b', 'a:b']
    """
    try:
        return _parse(formula)
    except patsy.PatsyError as error:
        raise InputError(f"cannot read the formula {formula!r}: {error}") from None


@lru_cache(maxsize=256)
def _parse(formula: str) -> patsy.ModelDesc:
    return patsy.ModelDesc.from_formula(formula)


@dataclass(frozen=True)
class ModelDesign:
    """The arrays of one model: response, fixed and random regressors, group labels."""

    formula: MixedFormula
    frame: pd.DataFrame          # the complete rows used, with the data's index
    y: np.ndarray
    x: np.ndarray
    z: np.ndarray
    groups: np.ndarray           # the group of each row
    fixed_names: list[str]
    random_names: list[str]
    blocks: tuple[int, ...]      # sizes of the blocks of Psi (correlated random effects), in the order of Z
    group_codes: np.ndarray      # the group of each row as 0..m-1, in order of first appearance
    group_labels: np.ndarray     # the m distinct groups in that order
    z_in_x: tuple[int, ...] | None = None   # the column of X each column of Z is, when Z is taken from X


def model_design(data: pd.DataFrame, formula: MixedFormula) -> ModelDesign:
    """Check the inputs (see :func:`model_frame`) and build y, X and Z.

    Raises InputError for a name that is not a column and for a random term named
    twice.  (The rank of X is checked by the model, on centred columns.)
    """
    frame = model_frame(data, formula)
    y, x, fixed_names, built_directly = response_and_fixed(frame, formula)
    parts = [random_columns(frame, term.expression) for term in formula.random_terms]
    random_names = [name for _, names in parts for name in names]
    twice = sorted({name for name in random_names if random_names.count(name) > 1})
    if twice:
        raise InputError(f"the random terms of {formula.text!r} name {twice} more than once; "
                         "write each random effect in one term, e.g. (1 + x | g) or (1 | g) + (0 + x | g)")
    blocks = tuple(size for (_, names), term in zip(parts, formula.random_terms)
                   for size in ((len(names),) if term.correlated else (1,) * len(names)))
    # a numeric random term that is also a fixed term has the same column
    z_in_x = (tuple(fixed_names.index(name) for name in random_names)
              if built_directly and set(random_names) <= set(fixed_names) else None)
    if z_in_x is not None:
        adjacent = list(z_in_x) == list(range(z_in_x[0], z_in_x[0] + len(z_in_x)))
        z = x[:, z_in_x[0]:z_in_x[-1] + 1] if adjacent else x[:, list(z_in_x)]   # a view when it can be
    else:
        z = np.column_stack([matrix for matrix, _ in parts])
    _require_finite(z, formula.text)
    groups = frame[formula.group].to_numpy()
    codes, labels = pd.factorize(groups)
    return ModelDesign(formula=formula, frame=frame, y=y[:, 0], x=x, z=z, groups=groups,
                       fixed_names=fixed_names, random_names=random_names, blocks=blocks,
                       group_codes=codes, group_labels=np.asarray(labels), z_in_x=z_in_x)


def response_and_fixed(frame: pd.DataFrame, formula: MixedFormula) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """y (n x 1), X, X's column names, and whether they were built from the columns directly
    (numeric terms only) rather than by patsy."""
    description = parsed_formula(formula.fixed)
    response = numeric_columns(frame, description.lhs_termlist)
    fixed = numeric_columns(frame, description.rhs_termlist)
    built_directly = response is not None and fixed is not None
    if not built_directly:
        response, fixed = _patsy_columns(formula.fixed, frame, response=True)
    (y, response_names), (x, fixed_names) = response, fixed
    if y.shape[1] != 1:
        raise InputError(f"the response of {formula.text!r} must be one numeric column, not {response_names}")
    _require_finite(y, formula.text)
    _require_finite(x, formula.text)
    return y, x, fixed_names, built_directly


def random_columns(frame: pd.DataFrame, expression: str) -> tuple[np.ndarray, list[str]]:
    """Z's columns and names for one random term (patsy's coding, e.g. Machine[T.B] for a factor)."""
    terms = parsed_formula(f"~{expression}").rhs_termlist
    if not terms:
        raise InputError(f"the random term ({expression} | ...) has no columns; write e.g. (1 | g)")
    return numeric_columns(frame, terms) or _patsy_columns(f"~{expression}", frame, response=False)[0]


def new_rows_matrix(side: str, frame: pd.DataFrame, rows: pd.DataFrame) -> pd.DataFrame:
    """The matrix of the right-hand side *side* (e.g. ``"~ cses"``) for *rows*, coded as for *frame*.

    Factor levels and stateful transforms (``center(x)``, ``standardize(x)``) are
    those of *frame*, the rows the model was fitted to, so a prediction for new rows
    uses the training mean, not the mean of the new rows.

    >>> train = pd.DataFrame({"x": [0.0, 2.0, 4.0]})
    >>> new_rows_matrix("~ center(x)", train, pd.DataFrame({"x": [2.0, 5.0]}))["center(x)"].tolist()
    [0.0, 3.0]
    """
    info = _design_info(side, frame)
    try:
        (matrix,) = patsy.build_design_matrices([info], rows, NA_action="raise", return_type="dataframe")
    except patsy.PatsyError as error:
        raise InputError(f"the rows lack what the model's {side!r} needs: {error}") from None
    return matrix


def regression_matrices(formula: str, data: pd.DataFrame, what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """y and X of an ordinary regression *formula* as DataFrames; InputError (naming *what*) if unusable.

    >>> y, x = regression_matrices("y ~ x", pd.DataFrame({"y": [1.0, 2.0], "x": [0.0, 1.0]}), "example")
    >>> x.columns.tolist()
    ['Intercept', 'x']
    """
    try:
        return patsy.dmatrices(python_powers(formula), data, NA_action="raise", return_type="dataframe")
    except (patsy.PatsyError, SyntaxError) as error:
        raise InputError(f"{what} cannot use the formula {formula!r} with these data: {error}") from None


def _design_info(side: str, frame: pd.DataFrame) -> patsy.DesignInfo:
    try:
        return patsy.incr_dbuilder(side, lambda: iter([frame]), NA_action=_NO_MISSING_CHECK)
    except patsy.PatsyError as error:
        raise _build_error(error, side) from None


def numeric_columns(frame: pd.DataFrame, terms: list[patsy.Term]) -> tuple[np.ndarray, list[str]] | None:
    """The matrix and column names patsy gives *terms* when every factor is numeric; None otherwise.

    A numeric factor is a numeric (not boolean) column, or arithmetic on such
    columns inside ``I()``.  A term's column is the product of its factors, and
    the intercept comes first, then the terms in formula order, as in patsy.

    >>> frame = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0], "g": ["x", "y"]})
    >>> matrix, names = numeric_columns(frame, parsed_formula("~ a:b + I(a**2)").rhs_termlist)
    >>> matrix.tolist(), names
    ([[1.0, 3.0, 1.0], [1.0, 8.0, 4.0]], ['Intercept', 'a:b', 'I(a ** 2)'])
    >>> numeric_columns(frame, parsed_formula("~ a + g").rhs_termlist) is None
    True
    """
    ordered = _patsy_order(terms)
    matrix = np.empty((len(frame), len(ordered)), order="F")      # each column contiguous
    factors = {}                                                      # each factor evaluated once
    for column, term in zip(matrix.T, ordered):
        column[...] = 1.0
        for factor in term.factors:
            if factor.code not in factors:
                factors[factor.code] = _numeric_factor(factor.code, frame)
            if factors[factor.code] is None:
                return None
            column *= factors[factor.code]
    return matrix, [term.name() for term in ordered]


def _patsy_order(terms: list[patsy.Term]) -> list[patsy.Term]:
    """Numeric terms in the order of patsy's columns: the intercept first, then as written."""
    return sorted(terms, key=lambda term: len(term.factors) > 0)


_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.Div,
               ast.Pow, ast.USub, ast.UAdd)


def _numeric_factor(code: str, frame: pd.DataFrame) -> np.ndarray | None:
    """The values of one factor if it is a numeric column or arithmetic on them inside I(); None otherwise."""
    arithmetic = _arithmetic_of_names(code)
    if arithmetic is None or "I" in frame.columns:
        return None
    expression, names = arithmetic
    columns = {}
    for name in names:
        series = frame.get(name)
        if series is None or not (isinstance(series.dtype, np.dtype) and series.dtype.kind in "iuf"):
            return None
        columns[name] = series.to_numpy(dtype=float)
    values = np.asarray(eval(expression, {"__builtins__": {}, "I": _unchanged}, columns), dtype=float)
    return values if values.shape == (len(frame),) else None


def _unchanged(value):
    """patsy's I(): protects arithmetic from being read as formula operators."""
    return value


@lru_cache(maxsize=1024)
def _arithmetic_of_names(code: str) -> tuple[CodeType, frozenset[str]] | None:
    """The compiled expression of a factor and the names it uses, if it is a name or arithmetic inside I().

    None for anything else (a function call, a string, an attribute such as np.log).
    """
    try:
        tree = ast.parse(code, mode="eval")
    except SyntaxError:
        return None          # patsy reports it, as an InputError (see _patsy_columns)
    functions = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "I" and len(node.args) == 1
                    and not node.keywords):
                return None
            functions.add(node.func)
        elif isinstance(node, ast.Constant):
            if type(node.value) not in (int, float):
                return None
        elif not isinstance(node, _ARITHMETIC + (ast.Name,)):
            return None
    names = frozenset(node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node not in functions)
    return compile(tree, "<formula>", "eval"), names


def _patsy_columns(formula: str, frame: pd.DataFrame, response: bool) -> list[tuple[np.ndarray, list[str]]]:
    """(matrix, column names) of each side of *formula*, built by patsy: [y, X] for a response, else [Z]."""
    try:
        if response:
            matrices = patsy.dmatrices(formula, frame, NA_action=_NO_MISSING_CHECK)
        else:
            matrices = [patsy.dmatrix(formula, frame, NA_action=_NO_MISSING_CHECK)]
    except (patsy.PatsyError, SyntaxError) as error:
        raise _build_error(error, formula) from None
    return [(np.asarray(matrix), list(matrix.design_info.column_names)) for matrix in matrices]


def _build_error(error: Exception, formula: str) -> InputError:
    """The InputError for a patsy failure: names an unknown column if that is the cause."""
    unknown = re.search(r"name '([^']+)' is not defined", str(error))
    if unknown:
        return InputError(f"the formula {formula!r} uses {unknown.group(1)!r}, which is not a column of "
                          "the data; check the spelling or add the column")
    if isinstance(error, SyntaxError):
        return InputError(f"cannot read the formula {formula!r}: a term is not valid Python ({error.text!r}); "
                          "check the brackets and operators inside functions such as I()")
    return InputError(f"cannot build the model {formula!r}: {error}")


def _require_finite(values: np.ndarray, formula: str) -> None:
    """InputError if a transformation in *formula* made a missing or infinite value."""
    if not np.isfinite(values).all():
        raise InputError(f"the formula {formula!r} gives missing or infinite values (for example the log of "
                         "0 or of a negative number); change the transformation or drop those rows")


def require_full_rank(x: np.ndarray, formula: str, names: list[str]) -> None:
    """InputError if X'X, scaled to unit diagonal, is numerically singular.

    The model applies it to its centred and scaled X, so that a predictor far from its
    origin (a year, say) is not mistaken for a copy of the intercept; there a column
    that is constant (beside an intercept) or zero throughout becomes zero.

    >>> require_full_rank(np.array([[1.0, 0.0], [1.0, 0.0]]), "y ~ w", ["Intercept", "w"])
    Traceback (most recent call last):
    ...
    lmmlib.errors.InputError: the fixed-effects column 'w' of 'y ~ w' is constant (or zero) ...
    """
    xtx = x.T @ x
    scale = np.sqrt(np.diag(xtx))
    if np.any(scale == 0):
        name = names[int(np.argmin(scale))]
        raise InputError(f"the fixed-effects column {name!r} of {formula!r} is constant (or zero) in the rows "
                         "used, so it cannot be told from the intercept; drop that term")
    eigenvalues = np.linalg.eigvalsh(xtx / np.outer(scale, scale))
    rank = int(np.sum(eigenvalues > 1e-10 * eigenvalues.max()))
    if rank < x.shape[1]:
        raise InputError(f"the fixed effects of {formula!r} are collinear (the design has rank "
                         f"{rank} < {x.shape[1]} columns); drop a term")
