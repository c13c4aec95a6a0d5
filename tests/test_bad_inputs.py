"""The bad-input catalogue: every case fails with a named ThresherError that says what it wanted.

Each API case asserts the error class (a ``ThresherError`` subclass) and that the message
names the parameter (or file) and what was given. Each CLI case asserts a non-zero exit
code, a one-line ``error:`` message that names the problem, no traceback, and that nothing
was left behind in a run directory that did not exist before.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from thresher.data.table import Table
from thresher.errors import (
    DataError,
    DuplicateIdError,
    EmptyTableError,
    InvalidParameterError,
    LengthMismatchError,
    MissingColumnError,
    NonFiniteError,
    RunDirError,
    ThresherError,
    UnknownNameError,
)
from thresher.select.base import Budget

runner = CliRunner()


def _t(n: int = 20, **cols: np.ndarray) -> Table:
    rng = np.random.default_rng(0)
    base = {"label": np.arange(n) % 2, "score.s": rng.random(n)}
    base.update(cols)
    P = rng.dirichlet(np.ones(2), size=n)
    return Table(columns=base, matrices={"embeddings": rng.normal(size=(n, 3)), "probs": P})


def _probs_table(P: np.ndarray, labels: np.ndarray | None = None) -> Table:
    cols = {} if labels is None else {"label": labels}
    return Table(columns=cols, matrices={"probs": P})


# ----------------------------------------------------------------------------- API cases
def _margin(P, y):  # noqa: ANN001, ANN202
    from thresher.scores.uncertainty import Margin

    return lambda: Margin().score(_probs_table(np.asarray(P, dtype=float), np.asarray(y)))


def _select(selector: Callable[[], object], table: Callable[[], Table], budget: Budget, seed: object = 0):  # noqa: ANN202
    return lambda: selector().select(table(), budget, seed=seed)  # type: ignore[attr-defined]


def _topk():  # noqa: ANN202
    from thresher.select.topk import TopK

    return TopK(by="score.s")


def _knn(**kw):  # noqa: ANN003, ANN202
    from thresher.scores.density import KNNDistance

    return lambda: KNNDistance(**kw).score(_t())


API: list[tuple[str, Callable[[], object], type[ThresherError], str]] = [
    # tables and ids
    ("None id", lambda: Table(np.array(["a", None], dtype=object), columns={"x": np.arange(2)}), DataError, r"`row_id`.*missing.*row 1"),
    ("duplicate ids", lambda: Table([1, 1], columns={"x": np.arange(2)}), DuplicateIdError, r"row_id|duplicate"),
    ("float ids", lambda: Table(np.array([0.5, 1.5]), columns={"x": np.arange(2)}), DataError, r"`row_id`.*integers or strings"),
    ("2-D ids", lambda: Table(np.zeros((2, 2), int), columns={"x": np.arange(2)}), DataError, r"`row_id`.*1-D"),
    ("ids length", lambda: Table([1, 2, 3], columns={"x": np.arange(2)}), LengthMismatchError, r"same number of rows; got x=2, row_id=3"),
    ("ragged columns", lambda: Table(columns={"a": np.arange(2), "b": np.arange(3)}), LengthMismatchError, r"same number of rows; got a=2, b=3"),
    ("zero-width embeddings", lambda: Table(matrices={"embeddings": np.zeros((3, 0))}), DataError, r"'embeddings'.*at least one column"),
    ("NaN embeddings", lambda: Table(matrices={"embeddings": np.array([[1.0], [np.nan]])}), NonFiniteError, r"`embeddings`.*index"),
    ("1-D matrix", lambda: Table(matrices={"embeddings": np.arange(3.0)}), DataError, r"'embeddings'.*2-D"),
    ("string matrix", lambda: Table(matrices={"embeddings": np.array([["a"], ["b"]])}), DataError, r"'embeddings'.*numeric"),
    ("row_id as a column", lambda: Table(columns={"row_id": np.arange(2)}), DataError, r"'row_id'"),
    # probabilities
    ("probs summing to 5", _margin([[2.0, 3.0], [1.0, 4.0]], [0, 1]), DataError, r"`probs`.*\[0, 1\].*got"),
    ("negative probs", _margin([[-0.5, 1.5], [0.5, 0.5]], [0, 1]), DataError, r"`probs`.*\[0, 1\].*-0.5"),
    ("probs rows not summing to 1", _margin([[0.2, 0.2], [0.5, 0.5]], [0, 1]), DataError, r"`probs`.*summing to 1.*row 0"),
    ("label beyond probs columns", _margin([[0.5, 0.5], [0.5, 0.5]], [0, 2]), DataError, r"`label`.*class indices 0..1.*got 2"),
    ("more labels than classes", _margin([[0.5, 0.5]] * 3, ["a", "b", "c"]), DataError, r"`probs`.*3 distinct labels"),
    ("NaN label", _margin([[0.5, 0.5], [0.5, 0.5]], [0.0, np.nan]), DataError, r"`label`.*missing.*row 1"),
    ("missing probs", lambda: __import__("thresher.scores.uncertainty", fromlist=["Margin"]).Margin().score(
        Table(columns={"label": np.array([0, 1])})), MissingColumnError, r"'probs'.*signal"),
    # scorer parameters
    ("k as a string", _knn(k="5"), InvalidParameterError, r"`k` of KNNDistance.*integer.*'5'"),
    ("k zero", _knn(k=0), InvalidParameterError, r"`k` of KNNDistance"),
    ("k above n-1", _knn(k=50), InvalidParameterError, r"`k` of KNNDistance.*<= 19; got 50"),
    ("unknown reduce", _knn(reduce="median"), InvalidParameterError, r"`reduce` of KNNDistance.*'median'"),
    ("unknown metric", lambda: __import__("thresher.neighbors", fromlist=["knn"]).knn(np.zeros((5, 2)), 2, metric="manhattan"),
     InvalidParameterError, r"`metric`.*'manhattan'"),
    ("missing embeddings", lambda: __import__("thresher.scores.density", fromlist=["KNNDistance"]).KNNDistance().score(
        Table(columns={"x": np.arange(5)})), MissingColumnError, r"'embeddings'.*--embedding-columns"),
    ("empty table scored", lambda: __import__("thresher.scores.uncertainty", fromlist=["Entropy"]).Entropy().score(
        Table(matrices={"probs": np.zeros((0, 2))})), EmptyTableError, r"at least one row"),
    # budgets and seeds
    ("Budget n=0", lambda: Budget(n=0), InvalidParameterError, r"`budget.n`.*>= 1.*0"),
    ("Budget negative", lambda: Budget(n=-3), InvalidParameterError, r"`budget.n`"),
    ("Budget fraction 1.5", lambda: Budget(fraction=1.5), InvalidParameterError, r"`budget.fraction`.*\(0.0, 1.0\].*1.5"),
    ("Budget fraction 0", lambda: Budget(fraction=0.0), InvalidParameterError, r"`budget.fraction`"),
    ("Budget both", lambda: Budget(n=3, fraction=0.5), InvalidParameterError, r"exactly one of `n` or `fraction`"),
    ("Budget neither", lambda: Budget(), InvalidParameterError, r"exactly one of `n` or `fraction`"),
    ("Budget n as a string", lambda: Budget(n="3"), InvalidParameterError, r"`budget.n`.*'3'"),
    ("budget above rows", _select(_topk, _t, Budget(n=25)), InvalidParameterError, r"`budget.n` of TopK.*at most.*20.*25"),
    ("budget not a Budget", lambda: _topk().select(_t(), 3), InvalidParameterError, r"`budget` of TopK.*Budget"),
    ("seed as a string", _select(_topk, _t, Budget(n=2), seed="3"), InvalidParameterError, r"`seed`.*integer >= 0.*'3'"),
    ("negative seed", _select(_topk, _t, Budget(n=2), seed=-1), InvalidParameterError, r"`seed`.*integer >= 0.*-1"),
    ("float seed", _select(_topk, _t, Budget(n=2), seed=1.5), InvalidParameterError, r"`seed`.*1.5"),
    # selectors
    ("topk over a NaN score", _select(_topk, lambda: _t(**{"score.s": np.r_[np.nan, np.ones(19)]}), Budget(n=3)),
     NonFiniteError, r"'score.s' of TopK.*NaN.*row 0.*nan_policy='drop'"),
    ("topk by a missing column", lambda: __import__("thresher.select.topk", fromlist=["TopK"]).TopK(by="score.nope").select(
        _t(), Budget(n=2)), MissingColumnError, r"'score.nope'"),
    ("unknown selector name", lambda: __import__("thresher._registry", fromlist=["SELECTORS"]).SELECTORS.get("topkk"),
     UnknownNameError, r"topkk"),
    ("unknown scorer name", lambda: __import__("thresher._registry", fromlist=["SCORERS"]).SCORERS.get("margn"),
     UnknownNameError, r"margn"),
    ("kcenter bad metric", lambda: __import__("thresher.select.kcenter", fromlist=["KCenterGreedy"]).KCenterGreedy(
        metric="l1").select(_t(), Budget(n=3), seed=0), InvalidParameterError, r"`metric` of KCenterGreedy.*'l1'"),
    ("ccs bad beta", lambda: __import__("thresher.select.ccs", fromlist=["CCS"]).CCS(by="score.s", beta=1.5).select(
        _t(), Budget(n=3), seed=0), InvalidParameterError, r"`beta` of CCS"),
    ("facility location bad kernel", lambda: __import__("thresher.select.submodular", fromlist=["FacilityLocation"])
     .FacilityLocation(kernel="laplace").select(_t(), Budget(n=3), seed=0), InvalidParameterError, r"`kernel`.*'laplace'"),
    # metrics
    ("vendi negative q", lambda: __import__("thresher.metrics.vendi", fromlist=["Vendi"]).Vendi(q=-1).compute(_t()),
     InvalidParameterError, r"`q` of"),
    ("vendi unknown kernel", lambda: __import__("thresher.metrics.vendi", fromlist=["Vendi"]).Vendi(kernel="poly").compute(
        _t()), InvalidParameterError, r"`kernel`.*'poly'"),
    # executors
    ("unknown executor", lambda: __import__("thresher.execute.base", fromlist=["get_executor"]).get_executor("dask"),
     InvalidParameterError, r"`executor`.*'dask'"),
]


@pytest.mark.parametrize(("name", "call", "error", "pattern"), API, ids=[c[0] for c in API])
def test_api_case(name: str, call: Callable[[], object], error: type[ThresherError], pattern: str) -> None:
    assert issubclass(error, ThresherError)
    with pytest.raises(error, match=pattern):
        call()


def test_nan_policy_drop_is_the_stated_opt_in() -> None:
    from thresher.select.topk import TopK

    t = _t(**{"score.s": np.r_[np.nan, np.arange(19.0)]})
    sel = TopK(by="score.s", nan_policy="drop").select(t, Budget(n=3))
    assert sel.row_ids.tolist() == [19, 18, 17]


# --------------------------------------------------------------------------- file cases
def _files(tmp: Path) -> dict[str, Path]:
    out = {}
    (tmp / "empty.parquet").write_bytes(b"")
    out["empty parquet"] = tmp / "empty.parquet"
    good = tmp / "good.parquet"
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_parquet(good)
    data = good.read_bytes()
    (tmp / "truncated.parquet").write_bytes(data[: len(data) // 2])
    out["truncated parquet"] = tmp / "truncated.parquet"
    (tmp / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all")
    out["garbage parquet"] = tmp / "garbage.parquet"
    (tmp / "ragged.csv").write_text("a,b\n1,2\n3,4,5,6\n")
    out["ragged csv"] = tmp / "ragged.csv"
    (tmp / "empty.csv").write_text("")
    out["empty csv"] = tmp / "empty.csv"
    (tmp / "header.csv").write_text("a,b\n")
    out["header-only csv"] = tmp / "header.csv"
    (tmp / "bad.jsonl").write_text('{"a": 1}\n{not json\n')
    out["bad jsonl"] = tmp / "bad.jsonl"
    (tmp / "bad.npz").write_bytes(b"not an npz")
    out["bad npz"] = tmp / "bad.npz"
    pd.DataFrame({"id": ["a", None], "x": [1.0, 2.0]}).to_parquet(tmp / "nullid.parquet")
    out["null id column"] = tmp / "nullid.parquet"
    pd.DataFrame({"x": [1.0, 2.0], "y": [0.0, np.nan]}).to_csv(tmp / "nanlabel.csv", index=False)
    out["NaN label column"] = tmp / "nanlabel.csv"
    return out


FILE_CASES = [
    ("empty parquet", {}, DataError),
    ("truncated parquet", {}, DataError),
    ("garbage parquet", {}, DataError),
    ("ragged csv", {}, DataError),
    ("empty csv", {}, EmptyTableError),
    ("header-only csv", {}, EmptyTableError),
    ("bad jsonl", {}, DataError),
    ("bad npz", {}, DataError),
    ("null id column", {"id_column": "id"}, DataError),
    ("NaN label column", {"label_column": "y"}, DataError),
]


@pytest.mark.parametrize(("name", "roles", "error"), FILE_CASES, ids=[c[0] for c in FILE_CASES])
def test_reader_case(tmp_path: Path, name: str, roles: dict[str, str], error: type[ThresherError]) -> None:
    from thresher.data.io import read_table

    path = _files(tmp_path)[name]
    with pytest.raises(error) as info:
        read_table(path, **roles)
    assert path.name in str(info.value), "a bad file's error names the file"


def test_reader_missing_file_and_extension(tmp_path: Path) -> None:
    from thresher.data.io import read_table

    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.parquet")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(InvalidParameterError, match=r"`path` must end in"):
        read_table(tmp_path / "x.txt")


# ---------------------------------------------------------------------------- CLI cases
def _csv(tmp: Path) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(60, 3)), columns=["f0", "f1", "f2"])
    df["y"] = np.arange(60) % 3
    p = tmp / "data.csv"
    df.to_csv(p, index=False)
    return p


CLI_CASES: list[tuple[str, Callable[[Path, Path], list[str]], str]] = [
    ("unknown scorer", lambda d, r: ["score", "-d", "digits", "-s", "margn", "-r", str(r)], "margn"),
    ("unknown param key", lambda d, r: ["score", "-d", "digits", "-s", "knn_distance", "-p", "knn_distance.kk=3", "-r", str(r)], "kk"),
    ("param for another component", lambda d, r: ["score", "-d", "digits", "-s", "knn_distance", "-p", "margin.k=3", "-r", str(r)], "margin"),
    ("param without =", lambda d, r: ["score", "-d", "digits", "-s", "knn_distance", "-p", "knn_distance.k", "-r", str(r)], "NAME.KEY=VALUE"),
    ("unknown dataset", lambda d, r: ["score", "-d", "no-such-dataset", "-s", "margin", "-r", str(r)], "no-such-dataset"),
    ("missing label column", lambda d, r: ["score", "-d", str(d), "--label-column", "nope", "-s", "margin", "-r", str(r)], "nope"),
    ("bad fraction", lambda d, r: ["evaluate", "-d", "digits", "-S", "random", "--fraction", "0.3,abc", "-r", str(r)], "abc"),
    ("fraction above 1", lambda d, r: ["evaluate", "-d", "digits", "-S", "random", "--fraction", "1.5", "-r", str(r)], "1.5"),
    ("string seed", lambda d, r: ["evaluate", "-d", "digits", "-S", "random", "--fraction", "0.3", "--seed", "x", "-r", str(r)], "x"),
    ("negative seed", lambda d, r: ["evaluate", "-d", "digits", "-S", "random", "--fraction", "0.3", "--seed", "-4", "-r", str(r)], "-4"),
    ("unknown selector", lambda d, r: ["evaluate", "-d", "digits", "-S", "topkk", "--fraction", "0.3", "-r", str(r)], "topkk"),
    ("unknown metric", lambda d, r: ["measure", "-d", "digits", "-m", "vendy", "-r", str(r)], "vendy"),
    ("unknown model", lambda d, r: ["evaluate", "-d", "digits", "-S", "random", "--fraction", "0.3", "--model", "svmm", "-r", str(r)], "svmm"),
    ("threads zero", lambda d, r: ["score", "-d", "digits", "-s", "margin", "--threads", "0", "-r", str(r)], "threads"),
]


@pytest.mark.parametrize(("name", "argv", "needle"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_case(tmp_path: Path, name: str, argv: Callable[[Path, Path], list[str]], needle: str) -> None:
    from thresher.cli import app

    run = tmp_path / "run"
    out = runner.invoke(app, argv(_csv(tmp_path), run))
    text = out.output + (str(out.exception) if out.exception and not isinstance(out.exception, SystemExit) else "")
    assert out.exit_code != 0, text
    assert needle in text, text
    assert not isinstance(out.exception, Exception) or isinstance(out.exception, (SystemExit, ThresherError)), repr(out.exception)
    leftovers = [p for p in run.rglob("*") if p.is_file() and p.name != ".lock"] if run.exists() else []
    assert not leftovers, f"a failed command left {leftovers}"


def test_report_of_a_wrong_path_fails_and_creates_nothing(tmp_path: Path) -> None:
    from thresher.cli import app

    wrong = tmp_path / "no-such-run"
    out = runner.invoke(app, ["report", "-r", str(wrong)])
    assert out.exit_code != 0
    assert not wrong.exists()


def test_run_dir_that_is_a_file(tmp_path: Path) -> None:
    from thresher.cli import app

    f = tmp_path / "afile"
    f.write_text("x")
    out = runner.invoke(app, ["score", "-d", "digits", "-s", "margin", "-r", str(f)])
    assert out.exit_code != 0 and f.read_text() == "x"


def test_corrupt_manifest_is_named(tmp_path: Path) -> None:
    from thresher.store.rundir import RunDir

    run = tmp_path / "run"
    run.mkdir()
    (run / "manifest.json").write_text("{not json")
    with pytest.raises(RunDirError, match="manifest.json"):
        RunDir(run).read_manifest()


# -------------------------------------------------------------------------- recipe cases
RECIPES = [
    ("unknown section", {"data": {"dataset": "digits"}, "runn": {}}, r"runn"),
    ("no data", {"run": {"seeds": [0]}}, r"\[data\]"),
    ("bad fraction", {"data": {"dataset": "digits"}, "run": {"fractions": [0.1, 1.7]}}, r"1.7"),
    ("unknown run key", {"data": {"dataset": "digits"}, "run": {"seedz": [0]}}, r"seedz"),
    ("unknown model", {"data": {"dataset": "digits"}, "run": {"model": "svmm"}}, r"svmm"),
    ("second scorer misspelt", {"data": {"dataset": "digits"}, "scorers": [{"name": "margin"}, {"name": "entropyy"}]}, r"entropyy"),
    ("duplicate arm names", {"data": {"dataset": "digits"}, "selectors": [{"name": "topk", "by": "score.margin"},
                                                                             {"name": "topk", "by": "score.entropy"}]}, r"topk"),
    ("scorer param misspelt", {"data": {"dataset": "digits"}, "scorers": [{"name": "knn_distance", "kk": 3}]}, r"kk"),
    ("selector without name", {"data": {"dataset": "digits"}, "selectors": [{"by": "score.margin"}]}, r"name"),
]


@pytest.mark.parametrize(("name", "recipe", "pattern"), RECIPES, ids=[c[0] for c in RECIPES])
def test_recipe_case_fails_before_any_step(tmp_path: Path, name: str, recipe: dict, pattern: str) -> None:
    from thresher.pipeline import Recipe, run_recipe

    run = tmp_path / "run"
    with pytest.raises(ThresherError, match=pattern):
        run_recipe(Recipe.from_dict(json.loads(json.dumps(recipe))), run)
    assert not run.exists() or not any(p.is_file() and p.name != ".lock" for p in run.rglob("*")), "nothing may run"


def test_catalogue_size() -> None:
    n = len(API) + len(FILE_CASES) + len(CLI_CASES) + len(RECIPES) + 5
    assert n >= 60, n
