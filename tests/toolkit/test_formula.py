"""The lme4-style formula parser: lmmlib.formula."""
import dataclasses

import pytest

from lmmlib.errors import InputError
from lmmlib.formula import MixedFormula, RandomTerm, parse_formula, python_powers


def fields(parsed):
    """Everything a MixedFormula says except the text it was written as."""
    return parsed.response, parsed.fixed, parsed.random_terms, parsed.group


def test_lme4_form():
    parsed = parse_formula("mathach ~ cses + (1 + cses | school)")
    assert parsed == MixedFormula(text="mathach ~ cses + (1 + cses | school)", response="mathach",
                                  fixed="mathach ~ cses",
                                  random_terms=(RandomTerm("1 + cses", "school", correlated=True),))
    assert parsed.group == "school"


def test_results_are_frozen():
    parsed = parse_formula("y ~ x + (1 | g)")
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.fixed = "y ~ 1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.random_terms[0].group = "h"


@pytest.mark.parametrize("written, expression", [
    ("(x | g)", "x"),              # intercept + x, as in lme4; patsy adds the intercept itself
    ("(1 | g)", "1"),
    ("(0 + x | g)", "0 + x"),
    ("(-1 + x | g)", "-1 + x"),
    ("( 1 + x  |  g )", "1 + x"),
    ("(Machine | g)", "Machine"),
])
def test_random_expression(written, expression):
    (term,) = parse_formula(f"y ~ z + {written}").random_terms
    assert term == RandomTerm(expression, "g", True)


@pytest.mark.parametrize("formula, fixed", [
    ("y ~ (1 | g)", "y ~ 1"),
    ("y ~ (1 | g) + x", "y ~ x"),
    ("y ~ x + (1 | g) + z", "y ~ x + z"),
    ("y ~ 0 + (1 | g)", "y ~ 0"),
    ("y ~ -1 + x + (1 | g)", "y ~ -1 + x"),
    ("y ~ 1 + (x | g)", "y ~ 1"),
    ("y ~ x - 1 + (1 | g)", "y ~ x - 1"),
    ("y ~ x * z + C(k) + (1 | g)", "y ~ x * z + C(k)"),
])
def test_fixed_part_without_random_terms(formula, fixed):
    assert parse_formula(formula).fixed == fixed


def test_function_calls_are_not_random_terms():
    parsed = parse_formula("y ~ I(x) + np.log(x) + C(g) + (1 | g)")
    assert parsed.fixed == "y ~ I(x) + np.log(x) + C(g)"
    assert parsed.random_terms == (RandomTerm("1", "g", True),)


def test_bar_inside_a_function_call_is_python_or():
    parsed = parse_formula("y ~ I(a | b) + (I(a | b) | g)")
    assert parsed.fixed == "y ~ I(a | b)"
    assert parsed.random_terms == (RandomTerm("I(a | b)", "g", True),)


def test_double_bar_means_uncorrelated():
    parsed = parse_formula("y ~ x + (1 + x || g)")
    assert parsed.random_terms == (RandomTerm("1 + x", "g", correlated=False),)
    assert parsed.fixed == "y ~ x"


def test_several_terms_with_one_group_keep_their_order():
    parsed = parse_formula("y ~ x + (1 | g) + (0 + x | g) + (0 + z || g)")
    assert parsed.random_terms == (RandomTerm("1", "g", True), RandomTerm("0 + x", "g", True),
                                   RandomTerm("0 + z", "g", False))
    assert parsed.group == "g"
    assert parsed.fixed == "y ~ x"


@pytest.mark.parametrize("formula, expression", [
    ("y~x+(1+x|g)", "1+x"),        # only the blanks around the expression are removed
    ("  y ~ x + ( 1 + x | g )  ", "1 + x"),
    ("y ~ x\n    + (1 + x | g)", "1 + x"),
    ("y\t~\tx +\n(1 + x\n| g)", "1 + x"),
])
def test_whitespace_and_newlines(formula, expression):
    parsed = parse_formula(formula)
    assert fields(parsed) == ("y", "y ~ x", (RandomTerm(expression, "g", True),), "g")
    assert parsed.text == formula


def test_group_names_may_have_dots_and_digits():
    assert parse_formula("y ~ (1 | school.id_2)").group == "school.id_2"


@pytest.mark.parametrize("formula, factors", [
    ("y ~ (1 | a) + (1 | b)", ("a", "b")),
    ("y ~ x + (x | a/b)", ("a", "a:b")),
    ("y ~ (1 | a / b / c)", ("a", "a:b", "a:b:c")),
    ("y ~ (1 | a:b) + (1 | c)", ("a:b", "c")),
    ("y ~ (1 | b) + (1 | a) + (0 + x | b)", ("b", "a")),
])
def test_several_grouping_factors_nested_and_crossed(formula, factors):
    parsed = parse_formula(formula)
    assert parsed.factors == factors
    assert {term.group for term in parsed.random_terms} == set(factors)


def test_a_nesting_gives_each_level_the_same_terms():
    terms = parse_formula("y ~ x + (x || a/b)").random_terms
    assert [(t.expression, t.group, t.correlated) for t in terms] == [("x", "a", False), ("x", "a:b", False)]


@pytest.mark.parametrize("formula", ["y ~ (1 | a/)", "y ~ (1 | a b)", "y ~ (1 | a:2x)", "y ~ (1 | /a)"])
def test_malformed_grouping_factors_are_refused(formula):
    with pytest.raises(InputError, match=r"must be column names, joined by '/' for nesting or ':'"):
        parse_formula(formula)


def test_one_group_is_asked_of_a_model_with_several():
    with pytest.raises(InputError, match=r"several grouping factors \['a', 'b'\]"):
        assert parse_formula("y ~ (1 | a) + (1 | b)").group


@pytest.mark.parametrize("formula, match", [
    ("y ~ ( | g)", r"'\( \| g\)'.*needs an expression before the bar"),
    ("y ~ (x | )", r"'\(x \| \)'.*grouping column after it"),
    ("y ~ (x || )", r"grouping column after it"),
    ("y ~ (1 | g + h)", r"group 'g \+ h'.*must be column names"),
    ("y ~ (1 | `my school`)", r"must be column names, .*e\.g\. \(1 \| school\)"),
    ("y ~ (1 | 2g)", r"group '2g'.*must be column names"),
    ("y ~ (1 | g | h)", r"group 'g \| h'.*must be column names"),
])
def test_bad_random_terms(formula, match):
    with pytest.raises(InputError, match=match):
        parse_formula(formula)


@pytest.mark.parametrize("formula", [
    "y ~ x + 1 | g",
    "y ~ x | g",
    "y ~ (x + (1 | g))",
    "y ~ ((1 | g))",
    "y ~ x - (1 | g)",
    "y | g ~ x + (1 | g)",
])
def test_bar_outside_a_random_term(formula):
    with pytest.raises(InputError, match=r"must be written in parentheses, e\.g\. \(1 \| g\)"):
        parse_formula(formula)


def test_bar_inside_a_random_expression():
    with pytest.raises(InputError, match=r"'\(1 \| h\)' is not part of a random term"):
        parse_formula("y ~ ((1 | h) | g)")


def test_random_term_must_be_added():
    with pytest.raises(InputError, match=r"'\(1 \| g\):x'.*must stand on its own, added with '\+'"):
        parse_formula("y ~ (1 | g):x")


def test_three_part_form_matches_the_lme4_form():
    three_part = parse_formula("mathach ~ cses", group="school", random="1 + cses")
    lme4 = parse_formula("mathach ~ cses + (1 + cses | school)")
    assert three_part == lme4
    assert three_part.text == "mathach ~ cses + (1 + cses | school)"


@pytest.mark.parametrize("formula, group, random, lme4", [
    ("y ~ x", "g", None, "y ~ x + (1 | g)"),
    ("y ~ 1", "g", "0 + x", "y ~ 1 + (0 + x | g)"),
    (" y ~ x ", " g ", " x ", "y ~ x + (x | g)"),
    ("y ~ I(x^2)", "g", "1 + I(x^2)", "y ~ I(x^2) + (1 + I(x^2) | g)"),
])
def test_three_part_round_trips(formula, group, random, lme4):
    three_part = parse_formula(formula, group=group, random=random)
    assert three_part.text == lme4
    assert fields(three_part) == fields(parse_formula(lme4))


@pytest.mark.parametrize("kwargs, match", [
    (dict(random="1 + x"), r"random='1 \+ x' was given without group="),
    (dict(group="g", random=""), r"needs an expression before the bar"),
    (dict(group="a b"), r"must be column names"),
    (dict(group=3), r"group= and random= must be strings"),
    (dict(group="g", random=["x"]), r"group= and random= must be strings"),
])
def test_bad_three_part_arguments(kwargs, match):
    with pytest.raises(InputError, match=match):
        parse_formula("y ~ x", **kwargs)


@pytest.mark.parametrize("kwargs", [dict(group="g"), dict(group="g", random="1 + x")])
def test_random_part_given_twice(kwargs):
    message = r"either in the formula, as \(1 \+ x \| g\), or as group= and random=, not both"
    with pytest.raises(InputError, match=message):
        parse_formula("y ~ x + (1 | g)", **kwargs)


@pytest.mark.parametrize("formula", ["y ~ x", "y ~ 1", "y ~ I(x) + C(g)"])
def test_no_random_term(formula):
    message = r"has no random term; add one, e\.g\. 'y ~ x \+ \(1 \| g\)'.*ordinary regression"
    with pytest.raises(InputError, match=message):
        parse_formula(formula)


@pytest.mark.parametrize("formula, match", [
    (None, r"must be a string, not NoneType"),
    (b"y ~ x + (1 | g)", r"must be a string, not bytes"),
    ("", r"the formula is empty"),
    ("   \n ", r"the formula is empty"),
    ("y x + (1 | g)", r"exactly one '~'"),
    ("y ~ x ~ z + (1 | g)", r"exactly one '~'"),
    ("~ x + (1 | g)", r"needs a response left of '~'"),
    ("y ~   ", r"terms right of it"),
    ("y ~ x + + (1 | g)", r"'\+' with no term on one side"),
    ("y ~ x + (1 | g) +", r"'\+' with no term on one side"),
    ("y ~ x) + (1 | g)", r"the '\)' at position 5 closes nothing"),
    ("y ~ (x + (1 | g)", r"the '\(' at position 4 is never closed"),
    ("y ~ I(x + (1 | g)", r"the '\(' at position 5 is never closed"),
])
def test_basic_syntax_errors(formula, match):
    with pytest.raises(InputError, match=match):
        parse_formula(formula)


def test_input_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_formula("y ~ x")


@pytest.mark.parametrize("text, python", [
    ("I(Days^2)", "I(Days**2)"),
    ("np.log(x^2)", "np.log(x**2)"),
    ("I((a + b)^2)", "I((a + b)**2)"),
    ("f(g(x)^2)^3", "f(g(x)**2)^3"),
    ("I (x^2)", "I (x**2)"),       # a blank between the name and '(' is still a call, as in Python
    ("(a + b)^2", "(a + b)^2"),    # patsy's interaction power: kept
    ("a^2", "a^2"),
    ("I(x**2) + (a + b)^2", "I(x**2) + (a + b)^2"),
    ("y ~ x", "y ~ x"),
])
def test_python_powers(text, python):
    assert python_powers(text) == python


def test_python_powers_refuses_unbalanced_parentheses():
    with pytest.raises(InputError, match=r"the '\(' at position 1 is never closed"):
        python_powers("I(x^2")


def test_powers_in_every_part():
    parsed = parse_formula("np.log(y^2) ~ I(x^2) + (a + b)^2 + (1 + I(x^2) | g)")
    assert parsed.response == "np.log(y**2)"
    assert parsed.fixed == "np.log(y**2) ~ I(x**2) + (a + b)^2"
    assert parsed.random_terms == (RandomTerm("1 + I(x**2)", "g", True),)
    assert parsed.text == "np.log(y^2) ~ I(x^2) + (a + b)^2 + (1 + I(x^2) | g)"


def test_a_combination_as_the_only_grouping_factor_asks_for_a_column():
    with pytest.raises(InputError, match=r"combination 'a:b' of columns: make it a column first"):
        assert parse_formula("y ~ (1 | a:b)").group
