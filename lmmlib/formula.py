"""Parse lme4-style mixed-model formulas such as ``"mathach ~ cses + (1 + cses | school)"``.

Pure string work: the fixed part comes back as a patsy formula and each random term as a patsy
right-hand side, with R's ``^`` inside function calls turned into Python's ``**``.

>>> f = parse_formula("mathach ~ cses + (1 + cses | school)")
>>> f.fixed, f.group
('mathach ~ cses', 'school')
>>> f.random_terms
(RandomTerm(expression='1 + cses', group='school', correlated=True),)

Several grouping factors are written as in lme4: crossed ``(1 | subject) + (1 | item)``, and
nested ``(1 | school/class)``, which means ``(1 | school) + (1 | school:class)`` -- a class is
a combination of a school and a class label, so class labels may repeat across schools.

>>> parse_formula("y ~ x + (1 | school/class)").factors
('school', 'school:class')
"""
import re
from dataclasses import dataclass
from functools import lru_cache

from .errors import InputError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_EXAMPLE = "write it like 'mathach ~ cses + (1 + cses | school)'"


@dataclass(frozen=True)
class RandomTerm:
    """One random term ``(expression | group)``; ``correlated`` is False when written with ``||``."""

    expression: str
    group: str
    correlated: bool


@dataclass(frozen=True)
class MixedFormula:
    """A parsed formula: the response, the fixed part as a patsy formula, and the random terms."""

    text: str
    response: str
    fixed: str
    random_terms: tuple[RandomTerm, ...]

    @property
    def factors(self) -> tuple[str, ...]:
        """The grouping factors in the order of their first term: column names, or ``a:b`` for the
        combinations of two (or more) columns."""
        return tuple(dict.fromkeys(term.group for term in self.random_terms))

    @property
    def group(self) -> str:
        """The grouping column of a model with one grouping factor."""
        if len(self.factors) > 1:
            raise InputError(f"{self.text!r} has several grouping factors {list(self.factors)}; this "
                             "computation handles one grouping factor only")
        group = self.random_terms[0].group
        if ":" in group:
            columns = group.split(":")
            raise InputError(f"{self.text!r} has one grouping factor, the combination {group!r} of columns: "
                             "make it a column first, e.g. data['" + "_".join(columns) + "'] = "
                             + " + ':' + ".join(f"data[{c!r}].astype(str)" for c in columns)
                             + ", and group by that column")
        return group

    def terms_of(self, factor: str) -> tuple[RandomTerm, ...]:
        """The random terms of one grouping factor."""
        return tuple(term for term in self.random_terms if term.group == factor)

    @property
    def random_text(self) -> str:
        """The random terms without their group: ``"1 + cses"``, or ``"(1 | g) + (0 + x | g)"`` for several."""
        if len(self.random_terms) == 1 and self.random_terms[0].correlated:
            return self.random_terms[0].expression
        return " + ".join(f"({term.expression} {'|' if term.correlated else '||'} {term.group})"
                          for term in self.random_terms)


def _scan(text: str) -> list[tuple[str, int, bool]]:
    """Return (character, bracket depth, inside a function call) for each character of ``text``.

    A '(' opens a function call when the last non-blank character before it is a name character,
    '.' or ')': ``I(x)``, ``np.log (x)``.  Unbalanced parentheses raise InputError.
    """
    scanned, open_brackets = [], []  # open_brackets holds (position, opens a call) for each open '('
    for i, ch in enumerate(text):
        if ch == ")":
            if not open_brackets:
                raise InputError(f"unbalanced parentheses in {text!r}: the ')' at position {i} closes nothing; "
                                 "remove it or add the matching '('")
            open_brackets.pop()
        scanned.append((ch, len(open_brackets), any(call for _, call in open_brackets)))
        if ch == "(":
            before = text[:i].rstrip()[-1:]
            open_brackets.append((i, before != "" and (before.isalnum() or before in "_.)")))
    if open_brackets:
        raise InputError(f"unbalanced parentheses in {text!r}: the '(' at position {open_brackets[-1][0]} "
                         "is never closed; add the missing ')'")
    return scanned


def python_powers(text: str) -> str:
    """Replace R's power ``^`` inside function calls by Python's ``**``; a formula-level ``^`` stays.

    >>> python_powers("y ~ I(Days^2) + np.log(x^2) + (a + b)^2")
    'y ~ I(Days**2) + np.log(x**2) + (a + b)^2'
    """
    return "".join("**" if ch == "^" and in_call else ch for ch, _, in_call in _scan(text))


def _check_no_bar(text: str) -> None:
    """Refuse a '|' that is not part of a random term (a '|' inside a function call is Python's 'or')."""
    if any(ch == "|" and not in_call for ch, _, in_call in _scan(text)):
        raise InputError(f"the '|' in {text!r} is not part of a random term: a random term must be written "
                         "in parentheses, e.g. (1 | g), and added to the fixed part: 'y ~ x + (1 | g)'")


def _random_terms(piece: str, formula: str) -> tuple[RandomTerm, ...]:
    """The random terms written as ``piece`` (one '+'-separated term of the right-hand side): none
    for a fixed term, one for ``(x | g)``, one per level of nesting for ``(x | a/b)``."""
    scanned = _scan(piece)
    bars = [i for i, (ch, depth, _) in enumerate(scanned) if ch == "|" and depth == 1]
    if not piece.startswith("(") or not bars:
        return ()
    if any(depth == 0 for _, depth, _ in scanned[1:-1]) or not piece.endswith(")"):
        raise InputError(f"the random term in {piece!r} of {formula!r} must stand on its own, added with '+': "
                         "'y ~ x + (1 + x | g)'")
    expression, group = piece[1:bars[0]].strip(), piece[bars[0] + 1:-1]
    correlated = not group.startswith("|")
    group = group.removeprefix("|").strip()
    if not expression or not group:
        raise InputError(f"the random term {piece!r} in {formula!r} needs an expression before the bar and a "
                         "grouping column after it, e.g. (1 | school) or (1 + x | school)")
    _check_no_bar(expression)
    return tuple(RandomTerm(python_powers(expression), factor, correlated)
                 for factor in _nested_factors(group, piece))


def _nested_factors(group: str, piece: str) -> list[str]:
    """``a/b/c`` -> ``a``, ``a:b``, ``a:b:c``; ``a:b`` -> ``a:b``; every part a plain column name."""
    levels = [level.strip() for level in group.split("/")]
    for level in levels:
        columns = [column.strip() for column in level.split(":")]
        if not all(_NAME.fullmatch(column) for column in columns):
            raise InputError(f"the group {group!r} in the random term {piece!r} must be column names, joined "
                             "by '/' for nesting or ':' for combinations, e.g. (1 | school), "
                             "(1 | school/class) or (1 | dept:service)")
    return [":".join(":".join(c.strip() for c in level.split(":")) for level in levels[:k + 1])
            for k in range(len(levels))]


def parse_formula(formula: str, group: str | None = None, random: str | None = None) -> MixedFormula:
    """Parse an lme4-style formula, or the three-part form ``formula, group=, random=``.

    Each distinct formula is read once (the result is immutable and kept).

    >>> parse_formula("y ~ x + (1 | g) + (0 + x | g)").random_terms
    (RandomTerm(expression='1', group='g', correlated=True), RandomTerm(expression='0 + x', group='g', correlated=True))
    >>> parse_formula("y ~ x", group="g", random="1 + x")
    MixedFormula(text='y ~ x + (1 + x | g)', response='y', fixed='y ~ x', random_terms=(RandomTerm(...),))
    >>> parse_formula("y ~ I(x^2) + (1 + x || g)").fixed
    'y ~ I(x**2)'
    >>> parse_formula("y ~ 1 + (1 | plate) + (1 | sample)").factors
    ('plate', 'sample')
    """
    if not isinstance(formula, str):
        raise InputError(f"the formula must be a string, not {type(formula).__name__}; {_EXAMPLE}")
    if not isinstance(group, (str, type(None))) or not isinstance(random, (str, type(None))):
        raise InputError("group= and random= must be strings, e.g. group='school', random='1 + cses'")
    return _parse_formula(formula, group, random)


@lru_cache(maxsize=512)
def _parse_formula(formula: str, group: str | None, random: str | None) -> MixedFormula:
    if not formula.strip():
        raise InputError(f"the formula is empty; {_EXAMPLE}")
    tildes = [i for i, (ch, depth, _) in enumerate(_scan(formula)) if ch == "~" and depth == 0]
    if len(tildes) != 1:
        raise InputError(f"the formula {formula!r} must have exactly one '~' between the response and the "
                         f"terms; {_EXAMPLE}")
    lhs, rhs = formula[:tildes[0]].strip(), formula[tildes[0] + 1:]
    if not lhs or not rhs.strip():
        raise InputError(f"the formula {formula!r} needs a response left of '~' and terms right of it; {_EXAMPLE}")
    # Split the right-hand side at its top-level '+' signs; each piece is a fixed or a random term.
    cuts = [-1] + [i for i, (ch, depth, _) in enumerate(_scan(rhs)) if ch == "+" and depth == 0] + [len(rhs)]
    pieces = [rhs[start + 1:end].strip() for start, end in zip(cuts, cuts[1:])]
    if "" in pieces:
        raise InputError(f"the formula {formula!r} has a '+' with no term on one side; remove it")
    terms = [_random_terms(piece, formula) for piece in pieces]
    random_terms = tuple(term for written in terms for term in written)
    fixed = f"{lhs} ~ {' + '.join(piece for piece, term in zip(pieces, terms) if not term) or '1'}"
    _check_no_bar(fixed)
    if group is not None or random is not None:
        if group is None:
            raise InputError(f"random={random!r} was given without group=; name the grouping column too, "
                             f"or write the random term in the formula: {_EXAMPLE}")
        if random_terms:
            raise InputError(f"{formula!r} already has a random term: give the random part either in the "
                             "formula, as (1 + x | g), or as group= and random=, not both")
        random = "1" if random is None else random
        return parse_formula(f"{formula.strip()} + ({random.strip()} | {group.strip()})")
    if not random_terms:
        raise InputError(f"the formula {formula!r} has no random term; add one, e.g. 'y ~ x + (1 | g)' "
                         "(a model without random effects is an ordinary regression: use lmmlib.fit_ols)")
    return MixedFormula(formula, python_powers(lhs), python_powers(fixed), random_terms)
