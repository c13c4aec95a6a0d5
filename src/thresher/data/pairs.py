"""Preference-pair tables: ``prompt``, ``chosen``, ``rejected``, read as users already store them.

A pair table is a :class:`~thresher.data.Table` with text columns ``prompt``, ``chosen``
and ``rejected``, an optional ``group``, optional reward columns per side
(``reward.<name>.chosen`` / ``reward.<name>.rejected``) and these flags, set by the
reader (``on_bad="flag"``, the default) or refused with a :class:`DataError` naming the
first bad row (``on_bad="raise"``); no row is ever dropped:

* ``flag.missing_prompt``: no prompt, or only whitespace;
* ``flag.empty_chosen`` / ``flag.empty_rejected``: an empty response;
* ``flag.identical_pair``: chosen and rejected are the same text (no preference signal).

The column conventions are those of Hugging Face TRL's preference datasets: each of
``prompt``/``chosen``/``rejected`` is a string or a list of chat messages
(``{"role": ..., "content": ...}``). With ``prompt_column=None`` the prompt is implicit
(TRL's "implicit prompt" form, e.g. Anthropic HH): it is the longest shared prefix of
chosen and rejected (whole messages for conversations, whole words for strings). Messages
are rendered as ``"<role>: <content>"`` lines; a conversational prompt ends with an
``"assistant: "`` cue, so the response continues it. Field names are mapped with
options (``chosen_column=...``); a field that is absent raises an error that lists the
fields there are, never a silent guess.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from thresher._validation import check_choice, fail
from thresher.data.table import Table
from thresher.errors import DataError, EmptyTableError, MissingColumnError

__all__ = [
    "PROMPT",
    "CHOSEN",
    "REJECTED",
    "PAIR_FLAGS",
    "load_records",
    "render_messages",
    "pair_table",
    "read_pairs",
    "reward_names",
]

PROMPT = "prompt"
CHOSEN = "chosen"
REJECTED = "rejected"
PAIR_FLAGS = ("flag.missing_prompt", "flag.empty_chosen", "flag.empty_rejected", "flag.identical_pair")

Source = str | os.PathLike[str] | Any  # a path, a pandas DataFrame, or a list of dicts


def load_records(source: Source, owner: str) -> tuple[dict[str, list[Any]], str]:
    """Return (field -> list of values, a name for messages) from JSONL/Parquet, a DataFrame or dicts.

    Examples
    --------
    >>> load_records([{"a": 1}, {"a": 2, "b": "x"}], "demo")
    ({'a': [1, 2], 'b': [None, 'x']}, 'records')
    """
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if not p.is_file():
            raise fail("path", owner, "an existing .jsonl or .parquet file", str(p))
        suffix = p.suffix.lower()
        if suffix in (".jsonl", ".ndjson"):
            records = []
            for i, raw in enumerate(p.read_bytes().split(b"\n")):
                if not raw.strip():
                    continue
                try:
                    rec = json.loads(raw.decode("utf-8", errors="replace"))
                except json.JSONDecodeError as exc:
                    raise DataError(f"line {i + 1} of {str(p)!r} is not valid JSON: {exc.msg} at column {exc.colno}.") from None
                if not isinstance(rec, dict):
                    raise DataError(f"line {i + 1} of {str(p)!r} must be a JSON object; got {type(rec).__name__}.")
                records.append(rec)
            return _columns(records), str(p)
        if suffix in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            at = pq.read_table(p)
            return {k: at.column(k).to_pylist() for k in at.column_names}, str(p)
        raise fail("path", owner, "a .jsonl or .parquet file", str(p))
    if hasattr(source, "to_dict") and hasattr(source, "columns"):  # a pandas DataFrame
        return {str(k): list(source[k]) for k in source.columns}, "DataFrame"
    if isinstance(source, Sequence) and all(isinstance(r, Mapping) for r in source):
        return _columns([dict(r) for r in source if isinstance(r, Mapping)]), "records"
    raise fail("source", owner, "a path, a pandas DataFrame or a list of dicts", type(source).__name__)


def _columns(records: list[dict[str, Any]]) -> dict[str, list[Any]]:
    fields = list(dict.fromkeys(k for r in records for k in r))
    return {k: [r.get(k) for r in records] for k in fields}


def _is_messages(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(m, Mapping) and "content" in m for m in value)


def render_messages(messages: Sequence[Mapping[str, Any]], *, cue: bool = False) -> str:
    """Render chat messages as ``"<role>: <content>"`` lines (plus an ``"assistant: "`` cue).

    Examples
    --------
    >>> render_messages([{"role": "user", "content": "Hi"}], cue=True)
    'user: Hi\\nassistant: '
    """
    text = "\n".join(f"{m.get('role', 'user')}: {m['content']}" for m in messages)
    return text + ("\nassistant: " if cue else "")


def _text(value: Any, where: str, *, response: bool) -> str | None:
    """Return the text of a string or a message list (``None`` when missing)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if _is_messages(value):
        msgs = list(value)
        if not msgs:
            return ""
        if response and all(m.get("role", "assistant") == "assistant" for m in msgs):
            return "\n".join(str(m["content"]) for m in msgs)
        last_is_assistant = msgs[-1].get("role") == "assistant"
        return render_messages(msgs, cue=not response and not last_is_assistant)
    raise DataError(f"{where} must be a string or a list of chat messages with 'content'; got {type(value).__name__}.")


def _split_implicit(chosen: Any, rejected: Any, where: str) -> tuple[str | None, str | None, str | None]:
    """Split TRL implicit-prompt conversations (or strings) into (prompt, chosen, rejected)."""
    if isinstance(chosen, np.ndarray):
        chosen = chosen.tolist()
    if isinstance(rejected, np.ndarray):
        rejected = rejected.tolist()
    if _is_messages(chosen) and _is_messages(rejected):
        k = 0
        while k < min(len(chosen), len(rejected)) and dict(chosen[k]) == dict(rejected[k]):
            k += 1
        prompt = list(chosen[:k])
        p = render_messages(prompt, cue=bool(prompt) and prompt[-1].get("role") != "assistant") if prompt else None
        return p, _text(list(chosen[k:]), where, response=True), _text(list(rejected[k:]), where, response=True)
    if isinstance(chosen, str) and isinstance(rejected, str):
        k = 0
        while k < min(len(chosen), len(rejected)) and chosen[k] == rejected[k]:
            k += 1
        if k < min(len(chosen), len(rejected)) or len(chosen) != len(rejected):
            while k > 0 and not chosen[k - 1].isspace():  # back off to a word boundary
                k -= 1
        return (chosen[:k] or None), chosen[k:], rejected[k:]
    return None, _text(chosen, where, response=True), _text(rejected, where, response=True)


def reward_names(table: Table) -> list[str]:
    """Return the names of reward columns present for both sides (``reward.<name>.chosen``/``.rejected``).

    Examples
    --------
    >>> t = pair_table(["q"], ["a"], ["b"], rewards={"rm": ([1.0], [0.5])})
    >>> reward_names(t)
    ['rm']
    """
    names = [c[len("reward."): -len(".chosen")] for c in table.column_names
             if c.startswith("reward.") and c.endswith(".chosen")]
    return [n for n in names if table.has(f"reward.{n}.rejected")]


def pair_table(
    prompts: Sequence[str | None],
    chosen: Sequence[str | None],
    rejected: Sequence[str | None],
    *,
    row_id: Any = None,
    group: Any = None,
    rewards: Mapping[str, tuple[Any, Any]] | None = None,
    columns: Mapping[str, Any] | None = None,
    on_bad: str = "flag",
    meta: Mapping[str, Any] | None = None,
) -> Table:
    """Build a pair table from texts, flagging (or refusing) bad pairs; no pair is dropped.

    Parameters
    ----------
    rewards
        ``{name: (rewards of chosen, rewards of rejected)}``, stored as
        ``reward.<name>.chosen`` and ``reward.<name>.rejected``.
    on_bad
        ``"flag"`` (set the ``flag.*`` columns of :data:`PAIR_FLAGS`) or ``"raise"``.

    Examples
    --------
    >>> t = pair_table(["2+2?", None], ["4", "yes"], ["5", "yes"])
    >>> t.column("flag.identical_pair").tolist(), t.column("flag.missing_prompt").tolist()
    ([False, True], [False, True])
    """
    owner = "pair_table"
    check_choice(on_bad, "on_bad", owner, ("flag", "raise"))
    n = len(chosen)
    if len(prompts) != n or len(rejected) != n:
        raise DataError(f"`prompts`, `chosen` and `rejected` of {owner} must have the same length; "
                        f"got {len(prompts)}, {n} and {len(rejected)}.")
    if n == 0:
        raise EmptyTableError(f"{owner} needs at least one pair; got none.")
    cols: dict[str, Any] = {}
    for name, values in ((PROMPT, prompts), (CHOSEN, chosen), (REJECTED, rejected)):
        cols[name] = np.array(["" if v is None else str(v) for v in values], dtype=object)
    flags = {
        "flag.missing_prompt": np.array([v is None or not str(v).strip() for v in prompts], dtype=bool),
        "flag.empty_chosen": np.array([not s.strip() for s in cols[CHOSEN]], dtype=bool),
        "flag.empty_rejected": np.array([not s.strip() for s in cols[REJECTED]], dtype=bool),
        "flag.identical_pair": np.array([a.strip() == b.strip() for a, b in zip(cols[CHOSEN], cols[REJECTED])],
                                        dtype=bool),
    }
    ids = np.arange(n, dtype=np.int64) if row_id is None else np.asarray(row_id)
    if on_bad == "raise":
        for flag, bad in flags.items():
            if bad.any():
                first = ids[int(np.flatnonzero(bad)[0])]
                first = first.item() if isinstance(first, np.generic) else first
                raise DataError(f"pair with row id {first!r} is bad ({flag}; {int(bad.sum())} such pairs); "
                                "pass on_bad='flag' to keep them flagged.")
    if group is not None:
        cols["group"] = np.asarray(group, dtype=object) if any(isinstance(g, str) for g in group) else np.asarray(group)
    for name, (rc, rr) in (rewards or {}).items():
        cols[f"reward.{name}.chosen"] = np.asarray(rc, dtype=np.float64)
        cols[f"reward.{name}.rejected"] = np.asarray(rr, dtype=np.float64)
    cols.update(columns or {})
    cols.update(flags)
    return Table(ids, columns=cols, meta={"kind": "pairs", **dict(meta or {})})


def read_pairs(
    source: Source,
    *,
    prompt_column: str | None = "prompt",
    chosen_column: str = "chosen",
    rejected_column: str = "rejected",
    id_column: str | None = None,
    group_column: str | None = None,
    reward_columns: Mapping[str, tuple[str, str]] | None = None,
    on_bad: str = "flag",
) -> Table:
    """Read preference pairs from JSON Lines, Parquet, a pandas DataFrame or a list of dicts.

    Parameters
    ----------
    prompt_column
        Field with the prompt; ``None`` for TRL's implicit-prompt form (the prompt is the
        shared prefix of chosen and rejected).
    chosen_column, rejected_column, id_column, group_column
        Fields playing these roles (strings or chat-message lists for the texts).
    reward_columns
        ``{name: (field for chosen, field for rejected)}``, e.g.
        ``{"uf": ("score_chosen", "score_rejected")}``. Fields already named
        ``reward.<name>.chosen`` / ``.rejected`` are kept as they are.
    on_bad
        ``"flag"`` or ``"raise"`` (see the module docstring).

    Examples
    --------
    >>> rows = [{"prompt": [{"role": "user", "content": "Hi"}],
    ...          "chosen": [{"role": "assistant", "content": "Hello!"}],
    ...          "rejected": [{"role": "assistant", "content": "Go away."}]}]
    >>> t = read_pairs(rows)
    >>> t.column("prompt")[0], t.column("chosen")[0]
    ('user: Hi\\nassistant: ', 'Hello!')
    """
    owner = "read_pairs"
    data, where = load_records(source, owner)
    fields = list(data)
    needed = {"chosen_column": chosen_column, "rejected_column": rejected_column, "prompt_column": prompt_column,
              "id_column": id_column, "group_column": group_column}
    for param, col in needed.items():
        if col is not None and col not in data:
            hint = " (pass prompt_column=None for the implicit-prompt form)" if param == "prompt_column" else ""
            raise MissingColumnError(f"`{param}` of {owner} must name a field of {where}; got {col!r}; "
                                     f"fields are {fields}{hint}.")
    n = len(data[chosen_column])
    if n == 0:
        raise EmptyTableError(f"{where} holds no pairs.")
    prompts: list[str | None] = []
    chosen: list[str | None] = []
    rejected: list[str | None] = []
    for i in range(n):
        at = f"pair {i} of {where}"
        c, r = data[chosen_column][i], data[rejected_column][i]
        if prompt_column is None:
            p, c_text, r_text = _split_implicit(c, r, at)
        else:
            p = _text(data[prompt_column][i], f"`{prompt_column}` of {at}", response=False)
            c_text = _text(c, f"`{chosen_column}` of {at}", response=True)
            r_text = _text(r, f"`{rejected_column}` of {at}", response=True)
        prompts.append(p)
        chosen.append(c_text)
        rejected.append(r_text)
    rewards: dict[str, tuple[list[Any], list[Any]]] = {}
    for name, (fc, fr) in (reward_columns or {}).items():
        for f in (fc, fr):
            if f not in data:
                raise MissingColumnError(f"`reward_columns[{name!r}]` of {owner} must name fields of {where}; "
                                         f"got {f!r}; fields are {fields}.")
        rewards[name] = ([np.nan if v is None else v for v in data[fc]], [np.nan if v is None else v for v in data[fr]])
    used = {chosen_column, rejected_column, prompt_column, id_column, group_column}
    used |= {f for pair in (reward_columns or {}).values() for f in pair}
    extra: dict[str, Any] = {}
    for k, v in data.items():
        if k in used or any(isinstance(x, (list, dict, np.ndarray)) for x in v):
            continue
        extra[k] = np.array(v, dtype=object) if any(isinstance(x, str) for x in v) else np.asarray(v)
    ids = None if id_column is None else np.asarray(data[id_column])
    group = None if group_column is None else data[group_column]
    fmt = "conversational" if any(_is_messages(x) for x in data[chosen_column][:50]) else "standard"
    return pair_table(prompts, chosen, rejected, row_id=ids, group=group, rewards=rewards, columns=extra,
                      on_bad=on_bad, meta={"name": Path(where).stem if where not in ("records", "DataFrame") else where,
                                           "format": fmt, "implicit_prompt": prompt_column is None})
