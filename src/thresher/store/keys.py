"""Result keys: a digest of everything that changes a stored result.

A stored artifact (a score column, a signal, a selection, a metric, an evaluation record)
is reused only when the key it was stored under equals the key of what is asked for now.
The key hashes the *inputs* of the computation, never its output:

* the registry name, class and ``algorithm_version`` of the component (a class bumps
  ``algorithm_version`` when a thresher release changes what it computes), and every
  constructor parameter, defaults included (so a changed default also recomputes);
* the seed;
* a fingerprint of the data it read (the input table, and for selections and metrics
  the score columns and signals attached to it).

Parameters that cannot change a result (``executor``, ``n_jobs``) are left out, so the
same run on a Ray cluster reuses local results. Keys are computed from a canonical JSON
form (sorted keys, integral floats written as integers, NumPy values as Python values),
so they are identical across processes, platforms and ``PYTHONHASHSEED`` values.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from thresher.data.table import Table

__all__ = [
    "IGNORED_PARAMS",
    "canonical",
    "result_key",
    "spec_of",
    "explicit_params",
    "fingerprint",
    "inputs_fingerprint",
    "needs_of",
    "selection_key",
    "metric_slot",
    "component_key",
]

#: Constructor parameters that choose *where* work runs, not what it computes.
IGNORED_PARAMS = frozenset({"executor", "n_jobs", "threads", "run_dir", "progress", "verbose"})

_KEY_RE = re.compile(r"[^A-Za-z0-9_.=-]+")
_ADDR_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def canonical(obj: Any) -> Any:
    """Return a JSON-serialisable form of ``obj`` that is the same in every process.

    Examples
    --------
    >>> canonical({"b": (1, 2.0), "a": np.float32(0.5), "c": {"y", "x"}})
    {'a': 0.5, 'b': [1, 2], 'c': ['x', 'y']}
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if math.isfinite(v) and v.is_integer() and abs(v) < 2**53:
            return int(v)
        return v if math.isfinite(v) else repr(v)
    if isinstance(obj, Mapping):
        return {str(k): canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted((canonical(v) for v in obj), key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        data = arr.astype(str).tobytes() if arr.dtype == object else arr.tobytes()
        return {"array": hashlib.sha256(data).hexdigest(), "shape": list(arr.shape), "dtype": str(arr.dtype)}
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, type):
        return obj.__qualname__
    if hasattr(obj, "get_params") or (hasattr(obj, "__dict__") and not callable(obj)):
        return spec_of(obj)
    if callable(obj):
        return getattr(obj, "__qualname__", type(obj).__qualname__)
    return _ADDR_RE.sub("", repr(obj))


def result_key(payload: Mapping[str, Any]) -> str:
    """Return the 20-hex-digit SHA-256 key of ``payload`` (after :func:`canonical`).

    Examples
    --------
    >>> result_key({"seed": 0, "q": 1.0}) == result_key({"q": 1, "seed": 0})
    True
    >>> result_key({"q": 1}) == result_key({"q": 2})
    False
    """
    text = json.dumps(canonical(dict(payload)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def _params(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "get_params"):
        params = dict(obj.get_params())
    else:
        params = {k: v for k, v in vars(obj).items() if not k.startswith("_") and not k.endswith("_")}
    return {k: v for k, v in params.items() if k not in IGNORED_PARAMS}


def spec_of(obj: Any, name: str | None = None) -> dict[str, Any]:
    """Return what identifies ``obj``'s computation: name, class, algorithm version, parameters.

    Examples
    --------
    >>> from thresher.select.topk import TopK
    >>> spec_of(TopK(by="score.x"), "topk")["params"]["by"]
    'score.x'
    """
    cls = type(obj)
    return {
        "name": name or getattr(obj, "name", cls.__name__),
        "class": cls.__qualname__,
        "algorithm_version": getattr(cls, "algorithm_version", 1),
        "params": canonical(_params(obj)),
    }


def explicit_params(obj: Any) -> dict[str, Any]:
    """Return the parameters of ``obj`` that differ from its constructor's defaults.

    Examples
    --------
    >>> from thresher._registry import METRICS
    >>> vendi = METRICS.get("vendi")
    >>> explicit_params(vendi(q=2.0)), explicit_params(vendi(q=1.0))
    ({'q': 2}, {})
    """
    try:
        sig = inspect.signature(type(obj).__init__)
    except (TypeError, ValueError):
        return canonical(_params(obj))  # type: ignore[no-any-return]
    out = {}
    for k, v in _params(obj).items():
        p = sig.parameters.get(k)
        if p is not None and p.default is not inspect.Parameter.empty and canonical(p.default) == canonical(v):
            continue
        out[k] = canonical(v)
    return out


_DERIVED_PREFIXES = ("score.", "flag.", "stderr.")
_array_memo: dict[int, tuple[weakref.ref[np.ndarray], str]] = {}
_fp_memo: dict[int, tuple[weakref.ref[Table], str]] = {}


def _forget(memo: dict[int, Any], key: int) -> Any:
    def callback(_ref: Any) -> None:
        memo.pop(key, None)

    return callback


def _array_digest(arr: np.ndarray) -> str:
    hit = _array_memo.get(id(arr))
    if hit is not None and hit[0]() is arr:
        return hit[1]
    c = np.ascontiguousarray(arr)
    h = hashlib.sha256(f"{c.dtype.str if c.dtype != object else 'O'}|{c.shape}|".encode())
    h.update(c.astype(str).tobytes() if c.dtype == object else c.tobytes())
    digest = h.hexdigest()
    try:
        key = id(arr)
        _array_memo[key] = (weakref.ref(arr, _forget(_array_memo, key)), digest)
    except TypeError:
        pass
    return digest


def _signal_matrices() -> frozenset[str]:
    from thresher._registry import SIGNALS

    return frozenset(m for e in SIGNALS.entries() for m in getattr(e.cls, "produces", ()))


def inputs_fingerprint(table: Table, needs: Any = ()) -> str:
    """Return a SHA-256 of what a component reading ``table`` may depend on.

    That is: the row ids, every input column and matrix, and of the *derived* data (score,
    flag and stderr columns; matrices produced by registered signals) only the names in
    ``needs`` (a component's declared ``requires`` and the column names its parameters
    mention). So a selector that reads ``score.margin`` is not recomputed when
    ``score.entropy`` changes, but is when ``score.margin`` does.

    Examples
    --------
    >>> from thresher.data import from_numpy
    >>> t = from_numpy(np.eye(3)).with_column("score.a", np.arange(3.0))
    >>> u = t.with_column("score.b", np.ones(3))
    >>> inputs_fingerprint(t, {"score.a"}) == inputs_fingerprint(u, {"score.a"})
    True
    >>> inputs_fingerprint(t, {"score.a"}) == inputs_fingerprint(t.with_column("score.a", np.ones(3)), {"score.a"})
    False
    """
    wanted = {str(n) for n in needs}
    wanted |= {"label" if n == "labels" else n for n in wanted}
    signals = _signal_matrices()
    parts = [("row_id", _array_digest(table.row_id))]
    for name in sorted(table.column_names):
        if name.startswith(_DERIVED_PREFIXES) and name not in wanted:
            continue
        parts.append((f"col:{name}", _array_digest(table.column(name))))
    for name in sorted(table.matrix_names):
        if name in signals and name not in wanted:
            continue
        parts.append((f"mat:{name}", _array_digest(table.matrix(name))))
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def needs_of(component: Any) -> set[str]:
    """Return the column and matrix names ``component`` declares or names in its parameters."""
    req = component.required_columns() if hasattr(component, "required_columns") else getattr(component, "requires", ())
    needs = {str(r) for r in req}

    def walk(v: Any) -> None:
        if isinstance(v, str):
            needs.add(v)
        elif isinstance(v, Mapping):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple, set, frozenset)):
            for x in v:
                walk(x)

    walk(_params(component))
    return needs


def fingerprint(table: Table) -> str:
    """Return a SHA-256 of the table's ids, columns and matrices, scores and flags left out.

    This is the table's identity as *input*: a run directory refuses other input.
    (Tables are immutable in use; the digest is memoised per table object.)
    """
    hit = _fp_memo.get(id(table))
    if hit is not None and hit[0]() is table:
        return hit[1]
    fp = _input_hash(table)
    try:
        key = id(table)
        _fp_memo[key] = (weakref.ref(table, _forget(_fp_memo, key)), fp)
    except TypeError:
        pass
    return fp


def _input_hash(table: Table) -> str:
    # unchanged since the first release, so existing run directories keep their identity
    h = hashlib.sha256()
    ids = table.row_id
    h.update(np.ascontiguousarray(ids.astype(str) if ids.dtype == object else ids).tobytes())
    for name in sorted(table.column_names):
        if name.startswith(("score.", "flag.")):
            continue
        v = table.column(name)
        h.update(name.encode())
        h.update(v.astype(str).tobytes() if v.dtype == object else np.ascontiguousarray(v).tobytes())
    for name in sorted(table.matrix_names):
        h.update(name.encode())
        h.update(np.ascontiguousarray(table.matrix(name)).tobytes())
    return h.hexdigest()


def selection_key(selector: str, budget: Any, seed: int | None) -> str:
    """Return the file-safe name of one selection, e.g. ``topk-el2n__f=0.3__s=0``.

    This names *where* a selection is stored (one per arm, budget and seed); whether the
    stored one is still valid is decided by its result key.
    """
    b = f"f={budget.fraction:g}" if budget.fraction is not None else f"n={budget.n}"
    if budget.cost:
        b += f"__cost={budget.cost}"
    s = "" if seed is None else f"__s={seed}"
    return _KEY_RE.sub("-", f"{selector}__{b}{s}")


def metric_slot(name: str, params: Mapping[str, Any], target: str, label: str | None = None) -> str:
    """Return where a metric result is stored in ``metrics.json``.

    Results of one metric with different parameters are stored beside each other:
    ``vendi/train`` (defaults), ``vendi[q=2]/train``; a recipe ``label`` replaces the name.

    Examples
    --------
    >>> metric_slot("vendi", {}, "train"), metric_slot("vendi", {"q": 2}, "train")
    ('vendi/train', 'vendi[q=2]/train')
    """
    if label:
        return f"{label}/{target}"
    if not params:
        return f"{name}/{target}"
    inner = ",".join(f"{k}={json.dumps(canonical(v), sort_keys=True)}".replace('"', "") for k, v in sorted(params.items()))
    return f"{name}[{inner}]/{target}"


def component_key(
    kind: str, obj: Any, name: str | None = None, *, seed: Any, table: Table | None = None, **inputs: Any
) -> tuple[str, dict[str, Any]]:
    """Return ``(result key, provenance)`` of running component ``obj`` on ``table``.

    The provenance is what the key hashes, in readable form: the component's spec, the
    seed and the fingerprints of its inputs; the manifest stores it beside the artifact.

    Examples
    --------
    >>> from thresher.data import from_numpy
    >>> from thresher.select.topk import TopK
    >>> t = from_numpy(np.eye(4)).with_column("score.x", np.arange(4.0))
    >>> k1, prov = component_key("selection", TopK(by="score.x"), "topk", seed=0, table=t, budget={"n": 2})
    >>> k2, _ = component_key("selection", TopK(by="score.x"), "topk", seed=1, table=t, budget={"n": 2})
    >>> k1 != k2, prov["spec"]["params"]["by"]
    (True, 'score.x')
    """
    ins = dict(inputs)
    if table is not None:
        ins["table"] = inputs_fingerprint(table, needs_of(obj))
    payload = canonical({"kind": kind, "spec": spec_of(obj, name), "seed": seed, "inputs": ins})
    return result_key(payload), payload
