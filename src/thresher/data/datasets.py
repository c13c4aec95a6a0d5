"""Built-in datasets: ``digits`` (scikit-learn's bundled copy) and ``fashion-mnist``.

Both come with a ``split`` column (``"train"``/``"test"``), labels, ``pixels`` (for the
report's image grids, with ``meta["image_shape"]``) and ``embeddings`` (pixels scaled to
[0, 1]). Nothing is ever downloaded: Fashion-MNIST is read from the files of Debian's
``dataset-fashion-mnist`` package.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np

from thresher.data.table import EMBEDDINGS, LABEL, PIXELS, Table
from thresher.errors import DatasetUnavailableError, InvalidParameterError, UnknownNameError

__all__ = ["DATASETS", "load_dataset", "load_digits", "load_fashion_mnist", "FASHION_MNIST_DIR"]

FASHION_MNIST_DIR = Path(os.environ.get("THRESHER_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def _split_column(n: int, test_fraction: float, labels: np.ndarray, seed: int) -> np.ndarray:
    """Stratified, seeded train/test assignment (deterministic for a given dataset)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    _, test_idx = train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=seed)
    split = np.full(n, "train", dtype=object)
    split[test_idx] = "test"
    return split


def load_digits() -> Table:
    """Load scikit-learn's bundled 8x8 digits (1,797 rows; 25% held out as ``split == "test"``).

    Examples
    --------
    >>> t = load_digits()
    >>> t.n_rows, t.embeddings.shape[1], sorted(set(t.column("split")))
    (1797, 64, ['test', 'train'])
    """
    from sklearn.datasets import load_digits as sk_digits

    d = sk_digits()
    pixels = d.images.reshape(len(d.images), -1).astype(np.float64)
    y = d.target.astype(np.int64)
    return Table(
        np.arange(len(y), dtype=np.int64),
        columns={LABEL: y, "split": _split_column(len(y), 0.25, y, seed=0)},
        matrices={EMBEDDINGS: pixels / 16.0, PIXELS: pixels.astype(np.uint8)},
        meta={"name": "digits", "image_shape": [8, 8], "class_names": [str(i) for i in range(10)]},
    )


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion_mnist(*, directory: str | os.PathLike[str] | None = None, n_train: int | None = None) -> Table:
    """Load Fashion-MNIST (60,000 train + 10,000 test 28x28 images) from Debian's package files.

    ``n_train`` keeps only the first ``n_train`` training rows (test rows are kept whole).
    Row ids are 0..59,999 for training images and 60,000..69,999 for test images.
    """
    d = Path(directory) if directory is not None else FASHION_MNIST_DIR
    files = {
        "train_x": d / "train-images-idx3-ubyte.gz",
        "train_y": d / "train-labels-idx1-ubyte.gz",
        "test_x": d / "t10k-images-idx3-ubyte.gz",
        "test_y": d / "t10k-labels-idx1-ubyte.gz",
    }
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise DatasetUnavailableError(
            "dataset 'fashion-mnist' needs the files of Debian's dataset-fashion-mnist package; "
            f"missing {missing[0]}. Install them with: sudo apt-get install dataset-fashion-mnist "
            "(or set THRESHER_FASHION_MNIST_DIR to a folder holding the four .gz files)."
        )
    xtr, ytr = _read_idx(files["train_x"]), _read_idx(files["train_y"])
    xte, yte = _read_idx(files["test_x"]), _read_idx(files["test_y"])
    ids_tr = np.arange(len(ytr), dtype=np.int64)
    if n_train is not None:
        if not 1 <= n_train <= len(ytr):
            raise InvalidParameterError(f"`n_train` of load_fashion_mnist must be in [1, {len(ytr)}]; got {n_train}.")
        xtr, ytr, ids_tr = xtr[:n_train], ytr[:n_train], ids_tr[:n_train]
    pixels = np.concatenate([xtr, xte]).reshape(len(ytr) + len(yte), -1)
    y = np.concatenate([ytr, yte]).astype(np.int64)
    ids = np.concatenate([ids_tr, 60_000 + np.arange(len(yte), dtype=np.int64)])
    split = np.array(["train"] * len(ytr) + ["test"] * len(yte), dtype=object)
    return Table(
        ids,
        columns={LABEL: y, "split": split},
        matrices={EMBEDDINGS: (pixels / 255.0).astype(np.float32), PIXELS: pixels},
        meta={"name": "fashion-mnist", "image_shape": [28, 28], "class_names": FASHION_MNIST_CLASSES},
    )


DATASETS: dict[str, Any] = {"digits": load_digits, "fashion-mnist": load_fashion_mnist}


def load_dataset(name: str, **params: Any) -> Table:
    """Load a built-in dataset by name (``digits`` or ``fashion-mnist``)."""
    try:
        loader = DATASETS[name]
    except KeyError:
        raise UnknownNameError(
            f"`dataset` must be one of {', '.join(sorted(DATASETS))}; got {name!r}."
        ) from None
    return loader(**params)


def split_table(table: Table, column: str = "split") -> tuple[Table, Table]:
    """Return (train, test) parts of a table with a ``split`` column."""
    s = table.column(column)
    return table.take(s == "train"), table.take(s == "test")
