"""Shared fixtures: the two data sets, loaded once per test session."""
import pytest

import lmmlib


@pytest.fixture(scope="session")
def hsb():
    return lmmlib.load_hsb()


@pytest.fixture(scope="session")
def nels88():
    """The NELS:88 ten-school data; the test is skipped, with instructions, when the file is absent."""
    try:
        return lmmlib.load_nels88()
    except lmmlib.DataFileMissingError as missing:
        pytest.skip(str(missing))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (the browser tests save a screenshot on failure)."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())
