"""The command line's one grammar: shared options, ``--param`` parsing, budgets, seeds, data, runs.

Every command spells a noun the same way:

====================  =====================================================
``-d/--data``         a built-in dataset name or a data file
``-r/--run``          the run directory (default ``runs/default``; the demos
                      default to ``runs/demo`` and ``runs/text-demo``)
``-s/--scorer``       a scorer registry name (values methods are scorers)
``-S/--selector``     a selector: ``NAME`` or ``ARM=NAME``
``-m/--metric``       a metric registry name
``-p/--param``        ``NAME.KEY=VALUE``: a constructor parameter of the named
                      component (TOML value syntax); unknown keys are errors
``--fraction``/``--n``  budgets (repeatable or comma-separated)
``--seed``            seeds (repeatable or comma-separated where several apply)
``--force``           recompute what is stored
``--executor``        ``local`` or ``ray``
``--threads``         BLAS/torch threads for the command
====================  =====================================================

Old spellings (``-s`` for a selector, ``-m`` for a values method, ``--fractions``,
``--seeds``, unprefixed ``--param KEY=VALUE`` ...) keep working for one release and print
a deprecation warning.
"""

from __future__ import annotations

import contextlib
import inspect
import tomllib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from thresher.errors import InvalidParameterError, UnknownNameError

__all__ = [
    "console",
    "err",
    "DEFAULT_RUN",
    "parse_params",
    "ParamTarget",
    "params_for",
    "split_list",
    "parse_fractions",
    "parse_seeds",
    "deprecated",
    "resuming",
    "threads_context",
    "Bars",
]

# Data lines are never wrapped by rich (soft_wrap): a path or a count stays on one line
# whatever $COLUMNS is, and the terminal wraps it for display. Tables still fit the width.
console = Console(stderr=False, soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_RUN = Path("runs/default")

# ------------------------------------------------------------------ options
RunOpt = typer.Option(
    None, "--run", "-r", metavar="DIR", help="Run directory (created if absent) [default: runs/default]."
)
DataOpt = typer.Option(
    None, "--data", "-d", metavar="DATA", help="Built-in dataset ('digits') or a Parquet/CSV/JSONL/.npz file."
)
ParamOpt = typer.Option(
    [], "--param", "-p", metavar="NAME.KEY=VALUE", help="Parameter KEY of component NAME (TOML value; repeatable)."
)
ForceOpt = typer.Option(False, "--force", help="Recompute what is already stored.")
ExecutorOpt = typer.Option("local", "--executor", metavar="local|ray", help="Where shards run.")
ThreadsOpt = typer.Option(None, "--threads", min=1, metavar="N", help="BLAS/torch threads [default: all cores].")
SeedOpt = typer.Option(0, "--seed", metavar="SEED", help="Seed.")
SeedsOpt = typer.Option([], "--seed", metavar="SEED", help="Seed(s): repeat or comma-separate.")
FractionsOpt = typer.Option([], "--fraction", metavar="F", help="Keep fraction(s) in (0, 1]: repeat or comma-separate.")
LabelColumnOpt = typer.Option(None, "--label-column", metavar="COLUMN", help="Column of a data file holding labels.")
IdColumnOpt = typer.Option(None, "--id-column", metavar="COLUMN", help="Column of a data file holding row ids.")
GroupColumnOpt = typer.Option(None, "--group-column", metavar="COLUMN", help="Column of a data file holding groups.")
SplitColumnOpt = typer.Option(
    None, "--split-column", metavar="COLUMN", help="Column of 'train'/'test' values [default: split; made if absent]."
)
EmbeddingColumnsOpt = typer.Option(
    None,
    "--embedding-columns",
    metavar="COLUMNS",
    help="Features: one vector column, a list 'a,b,c' or a prefix 'x*' [default: every numeric column].",
)
StandardizeOpt = typer.Option(False, "--standardize", help="Z-score the features (fitted on training rows).")
TestDataOpt = typer.Option(None, "--test-data", metavar="FILE", help="A file of test rows (same columns).")


def run_dir(run: Optional[Path]) -> Path:
    """Return the run directory a command works in: ``--run``, else :data:`DEFAULT_RUN`."""
    return DEFAULT_RUN if run is None else run


# ---------------------------------------------------------------- messages
def deprecated(old: str, new: str, command: str) -> None:
    """Print (and warn) that ``old`` is deprecated in ``command``; it still works this release."""
    msg = f"`{old}` of `thresher {command}` is deprecated and will be removed after 0.2; use {new}."
    warnings.warn(msg, FutureWarning, stacklevel=2)
    err.print(f"[yellow]deprecated:[/] {msg}", markup=True, highlight=False)


def resuming(n_done: int, n_total: int, run: Path, what: str = "steps") -> None:
    """Print one line (on stderr: stdout stays data) saying how much work is already stored (nothing when none is)."""
    if n_done:
        err.print(f"resuming: {n_done} of {n_total} {what} already stored in {run} (--force recomputes them)")


@contextlib.contextmanager
def threads_context(n: Optional[int]) -> Iterator[None]:
    """Limit BLAS and torch threads to ``n`` for the command (``None``: the library's setting).

    This is :func:`thresher._threads.thread_limit`, the one ``threads`` setting of the library.
    """
    if n is None:
        yield
        return
    if n < 1:
        raise InvalidParameterError(f"`--threads` must be a positive integer; got {n}.")
    from thresher._threads import thread_limit

    with thread_limit(n):
        yield


class Bars:
    """Progress bars for the library's ``progress(step, done, total)`` callbacks."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        )
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Bars:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, step: str, done: int, total: int) -> None:
        if step not in self.tasks:
            self.tasks[step] = self.progress.add_task(step, total=total)
        self.progress.update(self.tasks[step], completed=done, total=total)


# ------------------------------------------------------------------ values
def split_list(items: Sequence[str] | str | None) -> list[str]:
    """Flatten repeated and comma-separated option values.

    Examples
    --------
    >>> split_list(["0.1,0.3", "0.5"])
    ['0.1', '0.3', '0.5']
    """
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    return [p.strip() for item in items for p in str(item).split(",") if p.strip()]


def parse_fractions(items: Sequence[str] | str | None, option: str = "--fraction") -> list[float]:
    """Return the keep fractions given as repeated or comma-separated values.

    Examples
    --------
    >>> parse_fractions(["0.1,0.3", "0.5"])
    [0.1, 0.3, 0.5]
    """
    out = []
    for p in split_list(items):
        try:
            f = float(p)
        except ValueError:
            raise InvalidParameterError(f"`{option}` must be numbers in (0, 1]; got {p!r}.") from None
        if not 0.0 < f <= 1.0:
            raise InvalidParameterError(f"`{option}` must be in (0, 1]; got {f:g}.")
        out.append(f)
    return out


def parse_seeds(items: Sequence[str] | str | None, option: str = "--seed") -> list[int]:
    """Return the seeds given as repeated or comma-separated integers.

    Examples
    --------
    >>> parse_seeds(["0,1", "2"])
    [0, 1, 2]
    """
    try:
        seeds = [int(p) for p in split_list(items)]
    except ValueError:
        raise InvalidParameterError(f"`{option}` must be integers; got {list(items or [])!r}.") from None
    negative = [s for s in seeds if s < 0]
    if negative:
        raise InvalidParameterError(f"`{option}` must be integers >= 0; got {negative[0]}.")
    return seeds


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs (keys kept whole, dots included); values use TOML syntax.

    Examples
    --------
    >>> parse_params(["k=5", "topk.by=score.margin", "q=0.5", "largest=false"])
    {'k': 5, 'topk.by': 'score.margin', 'q': 0.5, 'largest': False}
    """
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise InvalidParameterError(f"`--param` must look like NAME.KEY=VALUE; got {item!r}.")
        key, value = item.split("=", 1)
        out[key.strip()] = _value(value)
    return out


@dataclass(frozen=True)
class ParamTarget:
    """A component ``--param`` can address: its key (arm name or registry name) and class."""

    key: str
    name: str
    cls: Any
    kind: str = "component"

    def accepted(self) -> set[str] | None:
        """Constructor parameter names (``None`` when it takes ``**kwargs``)."""
        try:
            sig = inspect.signature(self.cls)  # the constructor's parameters ("self" not included)
        except (TypeError, ValueError):
            return None
        if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
            return None
        return set(sig.parameters)


def params_for(items: Sequence[str], targets: Sequence[ParamTarget], command: str) -> dict[str, dict[str, Any]]:
    """Route ``--param NAME.KEY=VALUE`` items to the components they name; reject unknown keys.

    ``NAME`` is a component's arm name or registry name. An unprefixed ``KEY=VALUE`` (the
    old spelling) still works: it goes to every component that accepts ``KEY``, with a
    deprecation warning.

    Examples
    --------
    >>> from thresher._registry import SELECTORS
    >>> t = [ParamTarget("easy", "topk", SELECTORS.get("topk"), "selector")]
    >>> params_for(["easy.by=score.margin"], t, "evaluate")
    {'easy': {'by': 'score.margin'}}
    >>> params_for(["easy.bye=1"], t, "evaluate")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    thresher.errors.InvalidParameterError: `--param easy.bye` names no parameter of selector 'topk'; its parameters are [...].
    """
    out: dict[str, dict[str, Any]] = {t.key: {} for t in targets}
    keys = [t.key for t in targets]
    for item in items:
        if "=" not in item:
            raise InvalidParameterError(f"`--param` must look like NAME.KEY=VALUE; got {item!r}.")
        lhs, text = item.split("=", 1)
        lhs = lhs.strip()
        value = _value(text)
        name, dot, key = lhs.partition(".")
        hits = [t for t in targets if dot and name in (t.key, t.name)]
        if dot and not hits:
            raise InvalidParameterError(
                f"`--param {lhs}` must start with the name of a component of this command; got {name!r}; "
                f"names are {keys}."
            )
        if not dot:
            hits = [t for t in targets if (acc := t.accepted()) is None or lhs in acc]
            if not hits:
                raise InvalidParameterError(
                    f"`--param {lhs}` names no parameter of {', '.join(repr(t.name) for t in targets) or 'any component'}."
                )
            deprecated(f"--param {lhs}=...", f"`--param {hits[0].key}.{lhs}=...`", command)
            key = lhs
        for t in hits:
            acc = t.accepted()
            if acc is not None and key not in acc:
                raise InvalidParameterError(
                    f"`--param {lhs}` names no parameter of {t.kind} {t.name!r}; its parameters are {sorted(acc)}."
                )
            out[t.key][key] = value
    return out


def targets_of(registry: Any, specs: Sequence[tuple[str, str]]) -> list[ParamTarget]:
    """Return ``ParamTarget`` s for ``(key, registry name)`` pairs, failing on unknown names."""
    out = []
    for key, name in specs:
        if name not in registry:
            raise UnknownNameError(f"`{registry.kind}` must be one of {', '.join(registry.names())}; got {name!r}.")
        out.append(ParamTarget(key, name, registry.get(name), registry.kind))
    return out


# -------------------------------------------------------------------- data
def data_run(
    run: Optional[Path],
    data: Optional[str],
    *,
    command: str,
    legacy_default: str | None = None,
    label_column: Optional[str] = None,
    id_column: Optional[str] = None,
    group_column: Optional[str] = None,
    embedding_columns: Optional[str] = None,
    split_column: Optional[str] = None,
    standardize: bool = False,
    test_data: Optional[str] = None,
    force: bool = False,
) -> tuple[Any, Any]:
    """Return ``(RunDir, table)``: the rows of ``--data`` stored in the run first, else the run's stored rows.

    The data is read once, by :func:`thresher.data.source.read_data` (the same path a
    recipe's ``[data]`` takes); how it was read (features, split made or found,
    standardisation) goes into the run's manifest.
    """
    from thresher.data.source import DataSpec, read_data
    from thresher.pipeline import open_run
    from thresher.store.rundir import RunDir

    rd = RunDir(run_dir(run))
    if data is None:
        if (rd.path / "table.parquet").exists():
            return rd, rd.read_table(with_scores=False)
        if legacy_default is None:
            raise InvalidParameterError(
                f"`--data` must name a dataset or file: run directory {str(rd.path)!r} holds no data yet; got none."
            )
        deprecated("(no --data)", f"`--data {legacy_default}` (the default dataset goes away)", command)
        data = legacy_default
    spec = DataSpec.from_source(
        data,
        label_column=label_column,
        id_column=id_column,
        group_column=group_column,
        embedding_columns=embedding_columns,
        split_column=split_column,
        standardize=standardize or None,
        test_path=test_data,
    )
    loaded = read_data(spec)
    # --force starts the directory over only when it holds other input; else the command recomputes its own results
    open_run(rd, loaded, {"dataset": spec.name, "step": command}, force=force and rd.holds_other_input(loaded.table))
    return rd, loaded.table


def train_rows(table: Any) -> Any:
    """Return the training rows of a table (all rows without a ``split`` column)."""
    import numpy as np

    if not table.has("split"):
        return table
    return table.take(np.asarray(table.column("split")).astype(str) == "train")
