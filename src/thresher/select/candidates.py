"""Selectors over generated candidates: best-of-N by reward, majority vote, Best-of-Majority.

Each selector ranks the candidates of every prompt (``prompt_id`` group) and the budget
is filled level by level: first every prompt's top-ranked candidate, then every prompt's
second, and so on, so ``Budget(n=k * n_prompts)`` keeps exactly the top ``k`` of each
prompt (``thresher pairs select --per-prompt k``). Within a level, prompts whose pick
has the higher value (its reward, or its answer's vote share) come first; ties go to the
earlier row, so the result never depends on row order.

Answers (column ``answer``) are compared as exact strings; rows with an empty answer
never vote. An answer's representative is its highest-reward response (the first one
when no reward column is given).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from thresher._registry import register_selector
from thresher._validation import check_float
from thresher.data.candidates import ANSWER, PROMPT_ID, candidate_table, group_codes
from thresher.data.table import Table
from thresher.select.base import BaseSelector, Budget

__all__ = ["BestOfN", "MajorityVote", "BestOfMajority", "fill_by_level", "example_candidate_table"]


def example_candidate_table(n_prompts: int = 8, n: int = 6, seed: int = 0) -> Table:
    """Return a candidate table with answers, correctness, a reward column and embeddings (for tests).

    Examples
    --------
    >>> example_candidate_table(2, 3).n_rows
    6
    """
    rng = np.random.default_rng(seed)
    pid = np.repeat(np.arange(n_prompts), n)
    answers = rng.integers(0, 3, size=n_prompts * n)
    reward = rng.normal(size=n_prompts * n) + 0.5 * (answers == 0)
    t = candidate_table(pid, [f"question {p}" for p in pid], [f"the answer is {a} {i}" for i, a in enumerate(answers)],
                        answers=answers.astype(str), correct=answers == 0, rewards={"rm": reward},
                        row_id=np.arange(700, 700 + n_prompts * n))
    return t.with_matrix("embeddings", rng.normal(size=(n_prompts * n, 4)))


def fill_by_level(rankings: list[np.ndarray], values: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Take ``k`` positions: every group's rank-0 pick, then rank-1 picks, ...; higher value first in a level.

    Examples
    --------
    >>> import numpy as np
    >>> pos, v = fill_by_level([np.array([0, 1]), np.array([2])], [np.array([0.1, 0.0]), np.array([0.5])], 3)
    >>> pos.tolist()
    [2, 0, 1]
    """
    out: list[int] = []
    gains: list[float] = []
    level = 0
    while len(out) < k:
        cand = [(-float(np.nan_to_num(v[level], nan=-np.inf)), int(r[level]))
                for r, v in zip(rankings, values) if len(r) > level]
        if not cand:
            break
        for negv, pos in sorted(cand):
            if len(out) == k:
                break
            out.append(pos)
            gains.append(-negv)
        level += 1
    return np.asarray(out, dtype=np.int64), np.asarray(gains, dtype=np.float64)


def _desc(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Return ``idx`` sorted by ``values`` descending (NaN last), ties by position."""
    v = np.where(np.isnan(values[idx]), -np.inf, values[idx])
    return idx[np.lexsort((idx, -v))]


class _CandidateSelector(BaseSelector):
    """Rank each prompt's candidates (``_rank``), then fill the budget level by level."""

    requires = frozenset({PROMPT_ID})
    by: str | None = None

    def required_columns(self) -> frozenset[str]:
        return self.requires | ({self.by} if self.by else set())

    def _rewards(self, table: Table) -> np.ndarray:
        if self.by is None:
            return np.zeros(table.n_rows)
        return np.asarray(table.column(self.by), dtype=np.float64)

    def _rank(self, table: Table, idx: np.ndarray, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _select(self, table: Table, k: int, rng: np.random.Generator, budget: Budget) -> tuple[np.ndarray, np.ndarray, None]:
        codes, n_groups = group_codes(table.column(PROMPT_ID))
        reward = self._rewards(table)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(n_groups + 1))
        rankings, values = [], []
        for g in range(n_groups):
            r, v = self._rank(table, order[bounds[g] : bounds[g + 1]], reward)
            rankings.append(r)
            values.append(v)
        pos, gains = fill_by_level(rankings, values, k)
        return pos, gains, None

    @classmethod
    def conformance_table(cls) -> Table:
        return example_candidate_table()


@register_selector("best_of_n")
class BestOfN(_CandidateSelector):
    """Select each prompt's highest-reward candidates (best-of-N by a reward column).

    Best-of-N sampling (Nakano et al., "WebGPT", 2021; Stiennon et al., 2020): draw N
    responses and keep the one a reward model scores highest. Prone to reward hacking as
    N grows (Gao et al., "Scaling Laws for Reward Model Overoptimization", ICML 2023).

    Examples
    --------
    >>> import numpy as np
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 1, 1], ["a", "a", "b", "b"], ["x", "y", "z", "w"], rewards={"rm": [1, 3, 2, 0]})
    >>> BestOfN(by="reward.rm").select(t, Budget(n=2)).row_ids.tolist()
    [1, 2]
    """

    name = "best_of_n"

    def __init__(self, by: str = "reward") -> None:
        self.by = by

    def _rank(self, table: Table, idx: np.ndarray, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = _desc(reward, idx)
        return r, reward[r]

    @classmethod
    def make_example(cls) -> BestOfN:
        return cls(by="reward.rm")


def _answer_groups(table: Table, idx: np.ndarray, reward: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return (members of each distinct answer, rows without an answer) of one prompt, members best-first."""
    answers = np.asarray(table.column(ANSWER), dtype=object)[idx]
    groups: dict[str, list[int]] = {}
    missing = []
    for a, i in zip(answers.tolist(), idx.tolist()):
        if a is None or str(a) == "":
            missing.append(i)
        else:
            groups.setdefault(str(a), []).append(i)
    members = [_desc(reward, np.asarray(m, dtype=np.int64)) for m in groups.values()]
    return members, [_desc(reward, np.asarray(missing, dtype=np.int64))] if missing else []


def _answer_ranking(
    members: list[np.ndarray], missing: list[np.ndarray], reward: np.ndarray, lead: list[int],
    key: Any,
) -> np.ndarray:
    """Representatives in ``lead`` order, then the other representatives by ``key``, then the rest by reward."""
    chosen = set(lead)
    rest_reps = sorted((j for j in range(len(members)) if j not in chosen), key=key)
    reps = [int(members[j][0]) for j in list(lead) + rest_reps]
    others = np.concatenate([m[1:] for m in members] + missing) if members or missing else np.zeros(0, np.int64)
    return np.concatenate([np.asarray(reps, dtype=np.int64), _desc(reward, others.astype(np.int64))])


@register_selector("majority_vote")
class MajorityVote(_CandidateSelector):
    """Select each prompt's most frequent answer (self-consistency majority vote), one representative per answer.

    Wang et al., "Self-Consistency Improves Chain of Thought Reasoning in Language
    Models" (ICLR 2023). Answers are ranked by vote count, ties by the representative's
    reward (``by``, optional), then by row; after one representative per answer come the
    remaining candidates by reward. The value of a pick is its answer's vote share.

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0, 0, 0], ["q"] * 3, ["r1", "r2", "r3"], answers=["7", "5", "5"])
    >>> MajorityVote().select(t, Budget(n=1)).row_ids.tolist()
    [1]
    """

    name = "majority_vote"
    requires = frozenset({PROMPT_ID, ANSWER})

    def __init__(self, by: str | None = None) -> None:
        self.by = by

    def _rank(self, table: Table, idx: np.ndarray, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        members, missing = _answer_groups(table, idx, reward)

        def key(j: int) -> tuple[float, float, int]:
            rep = int(members[j][0])
            return (-len(members[j]), -float(np.nan_to_num(reward[rep], nan=-np.inf)), rep)

        ranking = _answer_ranking(members, missing, reward, [], key)
        share = {int(i): len(m) / len(idx) for m in members for i in m}
        return ranking, np.array([share.get(int(i), 0.0) for i in ranking])


@register_selector("best_of_majority")
class BestOfMajority(_CandidateSelector):
    """Select the highest-reward answers among those at least ``alpha * N`` of a prompt's N candidates agree on.

    Di et al., "Best-of-Majority: Minimax-Optimal Strategy for Pass@k Inference Scaling"
    (2025): keep the distinct answers whose empirical frequency is at least ``alpha``,
    then output the top k of them by reward, one representative (highest-reward response)
    per answer. Unlike best-of-N it does not degrade as N grows when the reward model is
    hackable. With ``alpha=0`` (and distinct rewards) the first pick is best-of-N's; with
    constant rewards it is the majority vote. When no answer reaches ``alpha``, the most
    frequent answers qualify. Ties: reward, then vote count, then row.

    Parameters
    ----------
    by
        Reward column.
    alpha
        Frequency threshold in [0, 1].

    Examples
    --------
    >>> from thresher.data.candidates import candidate_table
    >>> t = candidate_table([0] * 4, ["q"] * 4, ["a", "b", "c", "d"], answers=["1", "1", "2", "3"],
    ...                     rewards={"rm": [0.2, 0.1, 0.9, 5.0]})
    >>> BestOfMajority(by="reward.rm", alpha=0.5).select(t, Budget(n=1)).row_ids.tolist()
    [0]
    >>> BestOfMajority(by="reward.rm", alpha=0.0).select(t, Budget(n=1)).row_ids.tolist()
    [3]
    """

    name = "best_of_majority"
    requires = frozenset({PROMPT_ID, ANSWER})

    def __init__(self, by: str = "reward", alpha: float = 0.3) -> None:
        self.by = by
        self.alpha = alpha

    def _rank(self, table: Table, idx: np.ndarray, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        alpha = check_float(self.alpha, "alpha", type(self).__name__, low=0.0, high=1.0)
        members, missing = _answer_groups(table, idx, reward)

        def key(j: int) -> tuple[float, float, int]:
            rep = int(members[j][0])
            return (-float(np.nan_to_num(reward[rep], nan=-np.inf)), -len(members[j]), rep)

        counts = np.array([len(m) for m in members])
        qualified = [j for j in range(len(members)) if counts[j] >= alpha * len(idx) - 1e-9]
        if members and not qualified:
            qualified = [j for j in range(len(members)) if counts[j] == counts.max()]
        ranking = _answer_ranking(members, missing, reward, sorted(qualified, key=key), key)
        return ranking, reward[ranking]

    @classmethod
    def make_example(cls) -> BestOfMajority:
        return cls(by="reward.rm", alpha=0.3)
