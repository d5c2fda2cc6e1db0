"""Repository-wide pytest set-up: chapters that need an absent data file are skipped, saying why."""
import pytest

from lmmbook.requirements import unmet_requirements


def pytest_collection_modifyitems(config, items):
    unmet_by_notebook = {}
    for item in items:
        path = item.path
        if path.suffix != ".ipynb":
            continue
        if path not in unmet_by_notebook:
            unmet_by_notebook[path] = unmet_requirements(path)
        if unmet_by_notebook[path]:
            item.add_marker(pytest.mark.skip(reason=" ".join(unmet_by_notebook[path])))
