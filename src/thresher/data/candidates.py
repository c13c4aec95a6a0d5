"""Candidate tables: several generated responses per prompt (best-of-N, voting, RL prompt filtering).

A candidate table has one row per generated response: ``prompt_id`` (the group), ``prompt``,
``response``, optionally ``answer`` (the extracted final answer, for voting), ``correct``
(whether the answer is right, for pass@k and group homogeneity) and ``reward.<name>``
columns. Flags are set, never rows dropped: ``flag.missing_prompt``,
``flag.empty_response`` and, when answers are given, ``flag.missing_answer``.

Readers accept one record per candidate, or one record per prompt whose response field
is a list (``{"prompt": ..., "completions": [...], "rewards": [...]}``), which is
expanded to one row per element. TRL's prompt-completion convention (``completion``
instead of ``response``, strings or chat-message lists) is read as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from thresher._validation import check_choice
from thresher.data.pairs import Source, _is_messages, _text, load_records
from thresher.data.table import Table
from thresher.errors import DataError, EmptyTableError, MissingColumnError

__all__ = ["PROMPT_ID", "RESPONSE", "ANSWER", "CORRECT", "candidate_table", "read_candidates", "group_codes"]

PROMPT_ID = "prompt_id"
RESPONSE = "response"
ANSWER = "answer"
CORRECT = "correct"


def group_codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    """Return (code per row in order of first appearance, number of groups).

    Examples
    --------
    >>> import numpy as np
    >>> codes, n = group_codes(np.array(["b", "a", "b"], dtype=object))
    >>> codes.tolist(), n
    ([0, 1, 0], 2)
    """
    keys = [str(v) if isinstance(v, str) else v for v in np.asarray(values).tolist()]
    index: dict[Any, int] = {}
    codes = np.empty(len(keys), dtype=np.int64)
    for i, k in enumerate(keys):
        codes[i] = index.setdefault(k, len(index))
    return codes, len(index)


def candidate_table(
    prompt_id: Any,
    prompts: Any,
    responses: Any,
    *,
    answers: Any = None,
    correct: Any = None,
    rewards: Mapping[str, Any] | None = None,
    row_id: Any = None,
    columns: Mapping[str, Any] | None = None,
    on_bad: str = "flag",
    meta: Mapping[str, Any] | None = None,
) -> Table:
    """Build a candidate table, flagging (or refusing) missing prompts, empty responses and answers.

    Examples
    --------
    >>> t = candidate_table([0, 0, 1], ["q", "q", "r"], ["a", "", "c"], answers=["1", "1", None],
    ...                     rewards={"rm": [0.2, 0.1, 0.9]})
    >>> t.column("flag.empty_response").tolist(), t.column("flag.missing_answer").tolist()
    ([False, True, False], [False, False, True])
    """
    owner = "candidate_table"
    check_choice(on_bad, "on_bad", owner, ("flag", "raise"))
    n = len(responses)
    if len(prompt_id) != n or len(prompts) != n:
        raise DataError(f"`prompt_id`, `prompts` and `responses` of {owner} must have the same length; "
                        f"got {len(prompt_id)}, {len(prompts)} and {n}.")
    if n == 0:
        raise EmptyTableError(f"{owner} needs at least one candidate; got none.")
    pid = np.asarray(list(prompt_id), dtype=object)
    if all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pid):
        pid = pid.astype(np.int64)
    cols: dict[str, Any] = {
        PROMPT_ID: pid,
        "prompt": np.array(["" if p is None else str(p) for p in prompts], dtype=object),
        RESPONSE: np.array(["" if r is None else str(r) for r in responses], dtype=object),
    }
    flags = {
        "flag.missing_prompt": np.array([p is None or not str(p).strip() for p in prompts], dtype=bool),
        "flag.empty_response": np.array([not s.strip() for s in cols[RESPONSE]], dtype=bool),
    }
    if answers is not None:
        ans = [None if a is None or (isinstance(a, float) and np.isnan(a)) else str(a).strip() for a in answers]
        cols[ANSWER] = np.array(["" if a is None else a for a in ans], dtype=object)
        flags["flag.missing_answer"] = np.array([not a for a in cols[ANSWER]], dtype=bool)
    if correct is not None:
        c = np.asarray([np.nan if v is None else float(v) for v in correct], dtype=np.float64)
        if not np.all(np.isin(c[~np.isnan(c)], (0.0, 1.0))):
            raise DataError(f"`correct` of {owner} must hold booleans (or 0/1); got values such as "
                            f"{sorted(set(c[~np.isnan(c)].tolist()) - {0.0, 1.0})[:3]}.")
        cols[CORRECT] = c
    for name, values in (rewards or {}).items():
        cols[f"reward.{name}"] = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    ids = np.arange(n, dtype=np.int64) if row_id is None else np.asarray(row_id)
    if on_bad == "raise":
        for flag, bad in flags.items():
            if bad.any():
                first = ids[int(np.flatnonzero(bad)[0])]
                first = first.item() if isinstance(first, np.generic) else first
                raise DataError(f"candidate with row id {first!r} is bad ({flag}; {int(bad.sum())} such rows); "
                                "pass on_bad='flag' to keep them flagged.")
    cols.update(columns or {})
    cols.update(flags)
    return Table(ids, columns=cols, meta={"kind": "candidates", **dict(meta or {})})


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) and not _is_messages(v)


def read_candidates(
    source: Source,
    *,
    prompt_column: str = "prompt",
    response_column: str | None = None,
    prompt_id_column: str | None = None,
    answer_column: str | None = None,
    correct_column: str | None = None,
    reward_columns: Mapping[str, str] | None = None,
    id_column: str | None = None,
    on_bad: str = "flag",
) -> Table:
    """Read generated candidates from JSON Lines, Parquet, a DataFrame or dicts (one per candidate or per prompt).

    Parameters
    ----------
    response_column
        Field with the response; ``None`` takes ``response`` or TRL's ``completion``,
        whichever the data has (an error if it has both or neither).
    prompt_id_column
        Field with the prompt's id; ``None`` numbers distinct prompt texts in order of
        first appearance.
    answer_column, correct_column
        Fields with the extracted answer and its correctness (optional).
    reward_columns
        ``{name: field}``; fields already named ``reward.<name>`` are kept as they are.

    Examples
    --------
    >>> rows = [{"prompt": "1+1?", "completions": ["2", "3", "2"], "answers": ["2", "3", "2"],
    ...          "scores": [0.9, 0.95, 0.1]}]
    >>> t = read_candidates(rows, response_column="completions", answer_column="answers",
    ...                     reward_columns={"rm": "scores"})
    >>> t.n_rows, t.column("prompt_id").tolist(), t.column("reward.rm").tolist()
    (3, [0, 0, 0], [0.9, 0.95, 0.1])
    """
    owner = "read_candidates"
    data, where = load_records(source, owner)
    fields = list(data)
    if response_column is None:
        present = [c for c in (RESPONSE, "completion") if c in data]
        if len(present) != 1:
            raise MissingColumnError(f"`response_column` of {owner} must be given when {where} has "
                                     f"{'both' if present else 'neither'} of 'response' and 'completion'; "
                                     f"fields are {fields}.")
        response_column = present[0]
    rewards_map = dict(reward_columns or {})
    rewards_map.update({k[len("reward."):]: k for k in data if k.startswith("reward.") and k not in rewards_map.values()})
    roles = {"prompt_column": prompt_column, "response_column": response_column, "prompt_id_column": prompt_id_column,
             "answer_column": answer_column, "correct_column": correct_column, "id_column": id_column}
    roles.update({f"reward_columns[{k!r}]": v for k, v in rewards_map.items()})
    for param, col in roles.items():
        if col is not None and col not in data:
            raise MissingColumnError(f"`{param}` of {owner} must name a field of {where}; got {col!r}; fields are {fields}.")
    per_row: list[str] = [c for c in (response_column, answer_column, correct_column, id_column, *rewards_map.values())
                          if c is not None]
    out: dict[str, list[Any]] = {c: [] for c in per_row}
    prompts: list[str | None] = []
    pids: list[Any] = []
    for i, resp in enumerate(data[response_column]):
        at = f"record {i} of {where}"
        p = _text(data[prompt_column][i], f"`{prompt_column}` of {at}", response=False)
        pid = data[prompt_id_column][i] if prompt_id_column is not None else None
        if _is_list(resp):
            m = len(resp)
            for c in per_row:
                v = data[c][i]
                if c != response_column and not (_is_list(v) and len(v) == m):
                    raise DataError(f"`{c}` of {at} must be a list as long as its {m} responses; got {v!r}.")
                out[c].extend(list(v))
        else:
            m = 1
            for c in per_row:
                out[c].append(data[c][i])
        prompts.extend([p] * m)
        pids.extend([pid] * m)
    responses = [_text(r, f"`{response_column}` of {where}", response=True) for r in out[response_column]]
    if prompt_id_column is None:
        codes, _ = group_codes(np.array(["\x00" if p is None else p for p in prompts], dtype=object))
        pids = codes.tolist()
    ids = None if id_column is None else np.asarray(out[id_column])
    name = Path(where).stem if where not in ("records", "DataFrame") else where
    return candidate_table(
        pids, prompts, responses,
        answers=None if answer_column is None else out[answer_column],
        correct=None if correct_column is None else out[correct_column],
        rewards={k: out[v] for k, v in rewards_map.items()},
        row_id=ids, on_bad=on_bad, meta={"name": name},
    )
