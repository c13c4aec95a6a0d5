"""Table construction, bad input errors, and reader/writer round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from thresher.data import Table, from_numpy, from_pandas, read_table, write_table
from thresher.data.datasets import load_dataset, load_digits, load_fashion_mnist, split_table
from thresher.errors import (
    DatasetUnavailableError,
    DuplicateIdError,
    EmptyTableError,
    InvalidParameterError,
    LengthMismatchError,
    MissingColumnError,
    NonFiniteError,
    ThresherError,
    UnknownNameError,
)
from thresher.scores.uncertainty import SelfConfidence
from thresher.select.base import Budget
from thresher.select.topk import TopK


def test_generated_ids_and_roles() -> None:
    t = from_numpy(np.zeros((3, 2)), np.array([1, 0, 1]), groups=["a", "b", "a"])
    assert t.row_id.tolist() == [0, 1, 2]
    assert t.labels.tolist() == [1, 0, 1]
    assert t.groups.tolist() == ["a", "b", "a"]
    assert t.embeddings.dtype == np.float64


def test_mismatched_lengths_name_the_columns() -> None:
    with pytest.raises(LengthMismatchError, match=r"embeddings=3.*label=2|label=2.*embeddings=3"):
        from_numpy(np.zeros((3, 2)), np.array([0, 1]))


def test_duplicate_ids() -> None:
    with pytest.raises(DuplicateIdError, match="unique"):
        from_numpy(np.zeros((3, 2)), ids=["a", "b", "a"])


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_embeddings(bad: float) -> None:
    X = np.zeros((4, 2))
    X[2, 1] = bad
    with pytest.raises(NonFiniteError, match=r"index \(2, 1\)"):
        from_numpy(X)


def test_empty_table_is_refused_by_steps() -> None:
    t = from_numpy(np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(EmptyTableError):
        TopK(by="label").select(t, Budget(n=1))


def test_labels_missing_where_scorer_needs_them() -> None:
    t = Table(matrices={"probs": np.full((3, 2), 0.5)})
    with pytest.raises(MissingColumnError, match="SelfConfidence needs 'label'"):
        SelfConfidence().score(t)


def test_unknown_column_names() -> None:
    t = from_numpy(np.zeros((3, 2)), np.array([0, 1, 0]))
    with pytest.raises(UnknownNameError, match="'score.nope' is not in the table"):
        t.column("score.nope")
    with pytest.raises(MissingColumnError, match="score.nope"):
        TopK(by="score.nope").select(t, Budget(n=1))
    with pytest.raises(UnknownNameError, match="digits"):
        load_dataset("mnist-typo")


def test_errors_are_also_builtins() -> None:
    assert issubclass(InvalidParameterError, ValueError) and issubclass(InvalidParameterError, ThresherError)
    with pytest.raises(ValueError, match=r"`budget.fraction` of Budget must be in \(0.0, 1.0\]; got 1.5"):
        Budget(fraction=1.5)


def _rich_table() -> Table:
    rng = np.random.default_rng(0)
    return Table(
        np.array(["r1", "r2", "r3", "r4"], dtype=object),
        columns={"label": np.array([0, 1, 1, 0]), "group": np.array(["a", "a", "b", "b"], dtype=object), "score.x": rng.random(4)},
        matrices={"embeddings": rng.normal(size=(4, 3))},
        meta={"name": "rich"},
    )


def test_parquet_round_trip_is_exact(tmp_path) -> None:
    t = _rich_table()
    write_table(t, tmp_path / "t.parquet")
    back = read_table(tmp_path / "t.parquet")
    assert back.row_id.tolist() == t.row_id.tolist()
    np.testing.assert_array_equal(back.embeddings, t.embeddings)
    np.testing.assert_array_equal(back.column("score.x"), t.column("score.x"))
    assert back.meta == {"name": "rich"}


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_text_formats_round_trip(tmp_path, suffix: str) -> None:
    t = _rich_table()
    path = write_table(t, tmp_path / f"t.{suffix}")
    emb = "embeddings" if suffix == "jsonl" else "emb_*"
    back = read_table(path, id_column="row_id", label_column="label", group_column="group", embedding_columns=emb)
    assert back.row_id.tolist() == ["r1", "r2", "r3", "r4"]
    np.testing.assert_allclose(back.embeddings, t.embeddings, rtol=1e-12)
    assert back.labels.tolist() == [0, 1, 1, 0]
    np.testing.assert_allclose(back.column("score.x"), t.column("score.x"), rtol=1e-12)


def test_npz_and_pandas(tmp_path) -> None:
    t = _rich_table()
    write_table(t, tmp_path / "t.npz")
    back = read_table(tmp_path / "t.npz")
    np.testing.assert_array_equal(back.embeddings, t.embeddings)
    df = pd.DataFrame({"id": [5, 6], "y": ["cat", "dog"], "v": [[1.0, 2.0], [3.0, 4.0]]})
    p = from_pandas(df, id_column="id", label_column="y", embedding_columns="v")
    assert p.row_id.tolist() == [5, 6] and p.embeddings.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    with pytest.raises(MissingColumnError, match="`label_column` of from_pandas"):
        from_pandas(df, label_column="nope")


def test_read_errors(tmp_path) -> None:
    from thresher.errors import DataError

    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "missing.parquet")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(InvalidParameterError, match="must end in"):
        read_table(tmp_path / "x.txt")


def test_take_subset_positions() -> None:
    t = _rich_table()
    s = t.subset(["r3", "r1"])
    assert s.row_id.tolist() == ["r3", "r1"]
    np.testing.assert_array_equal(s.embeddings, t.embeddings[[2, 0]])
    with pytest.raises(UnknownNameError):
        t.positions(["zz"])


def test_digits_split() -> None:
    t = load_digits()
    tr, te = split_table(t)
    assert tr.n_rows + te.n_rows == 1797 and abs(te.n_rows - 450) <= 1
    assert t.meta["image_shape"] == [8, 8]


def test_fashion_mnist_missing_says_how_to_install(tmp_path) -> None:
    with pytest.raises(DatasetUnavailableError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(directory=tmp_path)


def test_fashion_mnist_reads_debian_files() -> None:
    from thresher.data.datasets import FASHION_MNIST_DIR

    if not (FASHION_MNIST_DIR / "train-labels-idx1-ubyte.gz").exists():
        pytest.skip("dataset-fashion-mnist not installed")
    t = load_fashion_mnist(n_train=100)
    tr, te = split_table(t)
    assert tr.n_rows == 100 and te.n_rows == 10_000
    assert t.matrix("pixels").shape[1] == 784 and t.labels.max() == 9
