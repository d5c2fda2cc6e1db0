"""The launch buttons work: Binder's requirements resolve; a chapter opened in Colab installs the packages."""
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def test_binder_requirements_point_at_the_lock_and_the_two_packages():
    lines = [line.strip() for line in (ROOT / "binder" / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    included = [line.split(maxsplit=1)[1] for line in lines if line.startswith("-r")]
    local = [line for line in lines if line.startswith(".")]
    # pip reads -r relative to the requirements file, and local paths relative to its working directory,
    # which for Binder is the repository's top folder
    assert [(ROOT / "binder" / path).resolve() for path in included] == [ROOT / "requirements.lock"]
    assert sorted((ROOT / path).resolve() for path in local) == sorted([ROOT, ROOT / "book"])
    for path in local:
        assert (ROOT / path / "pyproject.toml").is_file()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda path: path.stem)
def test_the_first_code_cell_installs_the_packages_on_colab_only(path):
    cells = [cell for cell in json.loads(path.read_text(encoding="utf-8"))["cells"] if cell["cell_type"] == "code"]
    first = "".join(cells[0]["source"])
    assert 'if "google.colab" in sys.modules:' in first and "#subdirectory=book" in first
    assert not cells[0]["outputs"], "the install cell must print nothing outside Colab"
    assert "remove-cell" in cells[0]["metadata"].get("tags", [])
    assert all("import lmmlib" not in "".join(cell["source"]) for cell in cells[:1])
