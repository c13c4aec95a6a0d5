"""Every scorer that says ``is_rowwise()`` gives the same values on any batching of its rows.

That claim is what lets :func:`thresher.stream.scores.stream_scores` run it out of core;
here it is checked against scoring the whole table at once, for every registered scorer.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conformance.test_registry import _table_for
from thresher._registry import SCORERS
from thresher.data.dataset import concat_tables

ROWWISE = [n for n in SCORERS.names() if SCORERS.get(n).make_example().is_rowwise()]


def test_some_scorers_are_rowwise() -> None:
    assert {"margin", "entropy", "self_confidence", "text_quality", "perplexity"} <= set(ROWWISE)


@pytest.mark.parametrize("name", ROWWISE)
def test_rowwise_scorer_equals_batched(name: str) -> None:
    cls = SCORERS.get(name)
    table = _table_for(cls)
    if "label" in cls.requires and "classes" not in table.meta:
        # the streaming engine gives every batch the dataset's classes; so does this test
        table.meta["classes"] = np.unique(table.labels).tolist()
    whole = cls.make_example().score(table, seed=3)
    scorer = cls.make_example()  # one object across batches, as the streaming engine uses it
    order = np.random.default_rng(0).permutation(table.n_rows)
    batches = [order[:1], order[1:2], order[2 : table.n_rows // 3], order[table.n_rows // 3 :]]
    got = np.empty(table.n_rows)
    for idx in batches:
        got[idx] = scorer.score(table.take(idx), seed=3)
    np.testing.assert_allclose(got, whole, rtol=1e-9, atol=1e-12,
                               err_msg=f"{name} claims is_rowwise() but batching changes its values")


def test_concat_tables_round_trips() -> None:
    t = _table_for(SCORERS.get("margin"))
    back = concat_tables([t.take(np.arange(0, 10)), t.take(np.arange(10, t.n_rows))])
    assert back.row_id.tolist() == t.row_id.tolist()
    np.testing.assert_array_equal(back.embeddings, t.embeddings)
