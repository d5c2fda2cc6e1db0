"""Reading a model from a DataFrame: the direct numeric path must give exactly patsy's matrices."""
import numpy as np
import pandas as pd
import patsy
import pytest

from lmmlib import engine
from lmmlib.errors import InputError
from lmmlib.formula import parse_formula
from lmmlib.model_frame import model_design as read_design
from lmmlib.model_frame import numeric_columns, parsed_formula


def model_design(data, formula, group, random):
    """The design of the three-part form, as the library reads it."""
    return read_design(data, parse_formula(formula, group, random))


@pytest.fixture(scope="module")
def data(hsb):
    frame = hsb.copy()
    frame["size"] = frame.groupby("school")["mathach"].transform("size").astype(int)
    frame["catholic"] = frame["sector"] == 1
    return frame


NUMERIC = [
    ("mathach ~ 1", "1"),
    ("mathach ~ cses", "1 + cses"),
    ("mathach ~ cses:meanses + meanses", "0 + cses"),
    ("mathach ~ (cses + meanses + sector)**2 - 1", "cses"),
    ("mathach ~ meanses * cses * sector", "1 + meanses:cses"),
    ("mathach ~ 0 + cses + I(cses**2) + I(-meanses / 2 + 1)", "1 + I(cses**2)"),
    ("mathach ~ size + I(size**2)", "size"),
    ("I(mathach / 10) ~ cses + meanses", "meanses + cses"),
]
NEEDS_PATSY = [
    ("mathach ~ C(sector) * cses", "1 + cses"),
    ("mathach ~ catholic + cses", "1"),          # patsy codes a boolean column as a factor
    ("mathach ~ np.log(size) + cses", "1 + np.log(size)"),
]


def patsy_arrays(data, formula, random):
    y, x = patsy.dmatrices(formula, data)
    z = patsy.dmatrix(f"~{random}", data)
    return y, x, z


@pytest.mark.parametrize("formula, random", NUMERIC + NEEDS_PATSY)
def test_the_design_is_patsys_matrix_column_for_column(data, formula, random):
    design = model_design(data, formula, "school", random)
    y, x, z = patsy_arrays(data, formula, random)
    assert design.fixed_names == x.design_info.column_names
    assert design.random_names == z.design_info.column_names
    np.testing.assert_array_equal(design.y, np.asarray(y)[:, 0])
    np.testing.assert_array_equal(design.x, np.asarray(x))
    np.testing.assert_array_equal(design.z, np.asarray(z))


@pytest.mark.parametrize("formula, random", NUMERIC)
def test_numeric_terms_are_built_without_patsy(data, formula, random):
    description = parsed_formula(formula)
    assert numeric_columns(data, description.rhs_termlist) is not None
    assert numeric_columns(data, description.lhs_termlist) is not None


@pytest.mark.parametrize("formula, random", NEEDS_PATSY)
def test_factors_and_functions_are_left_to_patsy(data, formula, random):
    terms = parsed_formula(formula).rhs_termlist + parsed_formula(f"~{random}").rhs_termlist
    assert numeric_columns(data, terms) is None


def test_random_terms_that_are_fixed_terms_reuse_the_columns_of_x(data):
    design = model_design(data, "mathach ~ cses + meanses", "school", "1 + cses")
    assert np.shares_memory(design.z, design.x) and design.z_in_x == (0, 1)
    np.testing.assert_array_equal(design.z, design.x[:, :2])
    apart = model_design(data, "mathach ~ meanses + cses", "school", "1 + cses")
    assert apart.z_in_x == (0, 2)
    np.testing.assert_array_equal(apart.z, apart.x[:, [0, 2]])
    assert model_design(data, "mathach ~ cses", "school", "1 + meanses").z_in_x is None


def test_cross_products_copied_from_z_z_equal_the_sums(data):
    design = model_design(data, "mathach ~ meanses + cses", "school", "1 + cses")
    arguments = (design.y, design.x, design.z, design.group_codes, design.group_labels)
    shared = engine.CrossProducts.from_codes(*arguments, design.z_in_x)
    summed = engine.CrossProducts.from_codes(*arguments)
    np.testing.assert_allclose(shared.ztx, summed.ztx, rtol=1e-12, atol=1e-9)


def test_groups_are_coded_in_order_of_first_appearance(data):
    design = model_design(data, "mathach ~ cses", "school", "1")
    np.testing.assert_array_equal(design.group_labels[design.group_codes], design.groups)
    assert design.group_labels[0] == data["school"].iloc[0] and len(design.group_labels) == 160


def test_a_formula_without_a_response_is_refused(data):
    with pytest.raises(InputError, match="response"):
        model_design(data, "~ cses", "school", "1")


def test_the_data_are_not_copied_or_changed_when_no_row_is_dropped(data):
    before = data.copy()
    design = model_design(data, "mathach ~ cses", "school", "1 + cses")
    assert design.frame is data
    pd.testing.assert_frame_equal(data, before)
