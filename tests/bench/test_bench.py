"""Chapter 10's bench after the smoke notebooks have run (`make test-bench`, after `make test-notebooks`).

The notebooks run in parallel, so Chapter 10 may run before the chapters whose cards it reads; this step runs
after all of them. It asserts that every row of the bench has its report card (for each chapter that exists)
and that Chapter 10's own measuring code (its model-definition cells) gives finite numbers for every row.
"""

import numpy as np
import pytest
from conftest import ROOT

from gdl import data, metrics, report
from tools import model_cells

CHAPTERS = {int(p.name[:2]) for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")}
EXPECTED = {name for name, chapter in report.BENCH.items() if chapter in CHAPTERS}


@pytest.fixture(scope="module")
def cards():
    return report.cards("smoke")


def test_every_row_has_a_card(cards):
    missing = sorted(EXPECTED - set(cards))
    assert not missing, (f"no report card for {missing} in {report.folder('smoke')}: run `make test-notebooks` "
                         "first (each chapter writes its cards at its end)")
    for name in EXPECTED:
        card = cards[name]
        assert card["chapter"] == report.BENCH[name] and card["n_samples"] > 3, card
        assert card["samples"].shape == (card["n_samples"], 28, 28)


def test_chapter_10_measures_every_row(cards):
    cells = model_cells.load(ROOT / "chapters" / "10_evaluation.ipynb")
    (x_train, _), (x_test, _) = data.mnist()
    classifier = metrics.mnist_classifier(verbose=False)
    rows = {name: card for name, card in cards.items() if name in EXPECTED}
    n = min([len(x_test) // 2] + [card["n_samples"] for card in rows.values()])
    for name, card in rows.items():
        row = cells["bench_row"](card["samples"][:n], x_test[:n], x_train, classifier)
        for key in ("confident", "classes", "fid", "kid", "precision", "recall", "memorised"):
            assert np.isfinite(row[key]), f"{name}: {key} is {row[key]}"
        assert 0 <= row["precision"] <= 1 and 0 <= row["recall"] <= 1, (name, row)
        text = cells["likelihood_text"](card["likelihood"])
        assert text == "-" if card["likelihood"] is None else card["likelihood"]["unit"] in text
    assert set(rows) == EXPECTED
