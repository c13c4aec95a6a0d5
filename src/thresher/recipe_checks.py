"""Check a whole recipe before any step runs, so a typo never costs a scoring pass.

:func:`check_recipe` builds every component (unknown names and misspelt parameters fail
here), runs each component's own parameter checks when it has them (``check_params``),
and checks the run settings (seeds, fractions, model, executor), that arm, score-column
and metric names are distinct, and, given the training table, that every column a
scorer, selector or metric reads will exist. Each error names the recipe entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from thresher._registry import METRICS, MODELS, SCORERS, SELECTORS, SIGNALS
from thresher.data.table import Table
from thresher.errors import InvalidParameterError, MissingColumnError
from thresher.store.keys import explicit_params, metric_slot

if TYPE_CHECKING:
    from thresher.pipeline import Component, Recipe

__all__ = ["build", "check_recipe", "check_seed"]

_RESERVED_ARMS = ("random", "full")


def build(registry: Any, comp: Component, where: str | None = None) -> Any:
    """Instantiate ``comp`` from ``registry``; a misspelt parameter gets a clear error."""
    cls = registry.get(comp.name)
    try:
        obj = cls(**comp.params)
    except TypeError as exc:
        at = f" (recipe entry `{where}`)" if where else ""
        raise InvalidParameterError(
            f"parameters of {registry.kind} {comp.name!r}{at} must match its signature; got {comp.params}: {exc}."
        ) from None
    check = getattr(obj, "check_params", None)
    if callable(check):
        check()
    return obj


def check_seed(seed: Any, param: str = "seed", owner: str = "the run") -> int:
    """Return ``seed`` if it is an integer >= 0 (what NumPy's SeedSequence accepts).

    Examples
    --------
    >>> check_seed(3)
    3
    >>> check_seed("3")
    Traceback (most recent call last):
    ...
    thresher.errors.InvalidParameterError: `seed` of the run must be an integer >= 0; got '3'.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or int(seed) < 0:
        raise InvalidParameterError(f"`{param}` of {owner} must be an integer >= 0; got {seed!r}.")
    return int(seed)


def _where(section: str, i: int, comp: Component) -> str:
    return f"{section}[{i}] ({comp.key!r})"


def _check_run(recipe: Recipe) -> None:
    if not isinstance(recipe.seeds, list) or not recipe.seeds:
        raise InvalidParameterError(f"`run.seeds` of the recipe must be a non-empty list of integers >= 0; got {recipe.seeds!r}.")
    for s in recipe.seeds:
        check_seed(s, "run.seeds", "the recipe")
    if len(set(recipe.seeds)) != len(recipe.seeds):
        raise InvalidParameterError(f"`run.seeds` of the recipe must be distinct; got {recipe.seeds!r}.")
    if not isinstance(recipe.fractions, list) or not recipe.fractions:
        raise InvalidParameterError(
            f"`run.fractions` of the recipe must be a non-empty list of numbers in (0, 1]; got {recipe.fractions!r}."
        )
    for f in recipe.fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0.0 < float(f) <= 1.0:
            raise InvalidParameterError(f"`run.fractions` of the recipe must hold numbers in (0, 1]; got {f!r}.")
    if len(set(recipe.fractions)) != len(recipe.fractions):
        raise InvalidParameterError(f"`run.fractions` of the recipe must be distinct; got {recipe.fractions!r}.")
    if recipe.model not in MODELS:
        raise InvalidParameterError(
            f"`run.model` of the recipe must be one of {', '.join(MODELS.names())}; got {recipe.model!r}."
        )
    try:
        MODELS.get(recipe.model)(**getattr(recipe, "model_params", {}))
    except TypeError as exc:
        raise InvalidParameterError(
            f"`run.model_params` of the recipe must match model {recipe.model!r}'s parameters; "
            f"got {getattr(recipe, 'model_params', {})}: {exc}."
        ) from None
    if recipe.executor not in ("local", "ray"):
        raise InvalidParameterError(f"`run.executor` of the recipe must be 'local' or 'ray'; got {recipe.executor!r}.")


def _distinct(names: Iterable[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InvalidParameterError(
                f"{what} in a recipe must be distinct; got {n!r} twice (give one entry a `label`)."
            )
        seen.add(n)


def check_recipe(recipe: Recipe, train: Table | None = None) -> None:
    """Raise the first problem of ``recipe``, before any step runs.

    Without ``train``, checks everything that does not need the data; with it, also
    that each column a component reads exists or will be produced by the run.
    """
    _check_run(recipe)
    built: dict[str, list[tuple[Component, Any]]] = {}
    for section, registry in (("signals", SIGNALS), ("scorers", SCORERS), ("selectors", SELECTORS), ("metrics", METRICS)):
        comps = getattr(recipe, section)
        built[section] = [(c, build(registry, c, _where(section, i, c))) for i, c in enumerate(comps)]
    columns = [f"score.{c.label}" if c.label else obj.column for c, obj in built["scorers"]]
    _distinct(columns, "score columns (`scorers` entries)")
    arms = [c.key for c, _ in built["selectors"]]
    for i, a in enumerate(arms):
        if a in _RESERVED_ARMS:
            raise InvalidParameterError(
                f"`selectors[{i}].label` of the recipe must not be {a!r} (a built-in arm); got {a!r}."
            )
        if "__" in a or "/" in a:
            raise InvalidParameterError(f"`selectors[{i}].label` of the recipe must not contain '__' or '/'; got {a!r}.")
    _distinct(arms, "arm names (`selectors` labels)")
    _distinct(
        [metric_slot(c.name, explicit_params(obj), "", c.label) for c, obj in built["metrics"]],
        "metrics (name and parameters)",
    )
    if train is None:
        return
    available = set(train.column_names) | set(train.matrix_names) | set(columns)
    producible = {m for e in SIGNALS.entries() for m in getattr(e.cls, "produces", ())}
    for _, obj in built["signals"]:
        available |= set(getattr(obj, "produces", ()))
    for section in ("scorers", "selectors", "metrics"):
        for i, (c, obj) in enumerate(built[section]):
            req = obj.required_columns() if hasattr(obj, "required_columns") else getattr(obj, "requires", ())
            for r in sorted(req):
                if train.has(r) or r in available or (section == "scorers" and r in producible):
                    continue
                have = ", ".join(sorted(available)) or "nothing"
                raise MissingColumnError(
                    f"`{section}[{i}]` ({c.key!r}) of the recipe reads {r!r}, which the run will not have; "
                    f"it will have {have}."
                )

