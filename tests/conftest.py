"""Shared fixtures: the two data sets, loaded once per test session."""
import pytest

import lmmbook


@pytest.fixture(scope="session")
def hsb():
    return lmmbook.load_hsb()


@pytest.fixture(scope="session")
def reference_models():
    """The models of the R reference files (tests/toolkit/reference/models.py)."""
    from lmmbook.agreement import reference_models
    return reference_models()


@pytest.fixture(scope="session")
def nels88():
    """The NELS:88 ten-school data; the test is skipped, with instructions, when the file is absent."""
    try:
        return lmmbook.load_nels88()
    except lmmbook.DataFileMissingError as missing:
        pytest.skip(str(missing))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (the browser tests save a screenshot on failure)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())


def pytest_collection_modifyitems(config, items):
    """Mark what each test needs, so that tiers can be chosen with -m: nels88, browser."""
    for item in items:
        if "nels88" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.nels88)
        if "browser" in item.path.parts:
            item.add_marker(pytest.mark.browser)
