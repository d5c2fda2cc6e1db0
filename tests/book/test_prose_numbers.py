"""Numbers written in a chapter's text must come from its computed outputs.

Prose may quote a computed value, rounded: every number with two or more decimals in
a chapter's Markdown must equal, at the precision written, some number printed in that
chapter's outputs (or a published value of the lectures).  When a computation changes,
a sentence that still quotes the old value fails this test instead of drifting silently.
"""
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\d])")
PROSE_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d{2,}(?![\d])")


def printed_numbers(notebook: dict) -> list[str]:
    texts = []
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            for kind in ("text/plain", "text/html", "text/markdown"):
                texts.append("".join(output.get("data", {}).get(kind, "")))
    published = pd.read_csv(ROOT / "book" / "lmmbook" / "data" / "published_tables.csv", dtype=str)["published"]
    texts += [value.replace(",", "") for value in published]
    return NUMBER.findall(" ".join(texts).replace(",", ""))


def rounds_to(candidate: str, written: str) -> bool:
    places = Decimal(1).scaleb(-len(written.split(".")[1]))
    return Decimal(candidate).quantize(places, rounding=ROUND_HALF_UP) == Decimal(written)


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.stem)
def test_numbers_in_the_text_are_computed_outputs(path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    candidates = [n for n in printed_numbers(notebook)]
    unbacked = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for written in PROSE_NUMBER.findall("".join(cell["source"])):
            same_sign = [c for c in candidates if c.startswith("-") == written.startswith("-")
                         and len(c.split(".")[1]) >= len(written.split(".")[1])]
            if not any(rounds_to(c, written) for c in same_sign):
                unbacked.append(written)
    assert not unbacked, f"numbers in the text of {path.name} that no output prints: {unbacked}"


def test_a_stale_number_in_the_text_is_caught():
    notebook = {"cells": [
        {"cell_type": "code", "source": "", "outputs": [{"output_type": "stream", "text": "beta_1 = 12.63697\n"}]},
        {"cell_type": "markdown", "source": "The intercept is 12.64, not 12.65."},
    ]}
    candidates = printed_numbers(notebook)
    assert any(rounds_to(c, "12.64") for c in candidates)
    assert not any(rounds_to(c, "12.65") for c in candidates if c.startswith("12"))
