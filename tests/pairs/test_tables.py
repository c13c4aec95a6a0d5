"""Pair and candidate tables: TRL conventions, column mapping, stable ids, flags instead of drops."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from thresher.data.candidates import read_candidates
from thresher.data.pairs import PAIR_FLAGS, read_pairs
from thresher.data.table import Table
from thresher.errors import DataError, MissingColumnError

U = {"role": "user", "content": "What is 2+2?"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_standard_pairs_from_jsonl_keep_order_ids_and_extra_fields(tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "chosen": f"good {i}", "rejected": f"bad {i}", "source": "s", "score_chosen": 2.0,
             "score_rejected": 1.0} for i in range(4)]
    t = read_pairs(_jsonl(tmp_path / "p.jsonl", rows), reward_columns={"uf": ("score_chosen", "score_rejected")})
    assert t.row_id.tolist() == [0, 1, 2, 3]
    assert t.column("chosen").tolist() == [f"good {i}" for i in range(4)]
    assert t.column("reward.uf.chosen").tolist() == [2.0] * 4 and t.column("source").tolist() == ["s"] * 4
    assert not any(t.column(f).any() for f in PAIR_FLAGS)
    assert "score_chosen" not in t.column_names


def test_conversational_explicit_prompt_renders_messages() -> None:
    rows = [{"prompt": [U], "chosen": [{"role": "assistant", "content": "4"}],
             "rejected": [{"role": "assistant", "content": "5"}]}]
    t = read_pairs(rows)
    assert t.column("prompt")[0] == "user: What is 2+2?\nassistant: "
    assert (t.column("chosen")[0], t.column("rejected")[0]) == ("4", "5")
    assert t.meta["format"] == "conversational"


def test_implicit_prompt_is_the_shared_prefix_of_messages_and_of_words() -> None:
    conv = [{"chosen": [U, {"role": "assistant", "content": "4"}], "rejected": [U, {"role": "assistant", "content": "5"}]}]
    t = read_pairs(conv, prompt_column=None)
    assert t.column("prompt")[0] == "user: What is 2+2?\nassistant: "
    assert t.column("chosen")[0] == "4"
    plain = [{"chosen": "Human: hi Assistant: hello there", "rejected": "Human: hi Assistant: help"}]
    t = read_pairs(plain, prompt_column=None)
    assert t.column("prompt")[0] == "Human: hi Assistant: "
    assert (t.column("chosen")[0], t.column("rejected")[0]) == ("hello there", "help")


def test_missing_field_names_the_option_and_the_fields() -> None:
    with pytest.raises(MissingColumnError, match="prompt_column=None"):
        read_pairs([{"chosen": "a", "rejected": "b"}])
    with pytest.raises(MissingColumnError, match=r"`chosen_column` of read_pairs.*'good'"):
        read_pairs([{"prompt": "q", "good": "a", "rejected": "b"}])
    t = read_pairs([{"question": "q", "good": "a", "bad": "b"}], prompt_column="question", chosen_column="good",
                   rejected_column="bad")
    assert t.column("chosen").tolist() == ["a"]


def test_bad_pairs_are_flagged_not_dropped_or_refused_on_request() -> None:
    rows = [{"prompt": "q", "chosen": "same", "rejected": "same"}, {"prompt": None, "chosen": "", "rejected": "x"},
            {"prompt": "q", "chosen": "a", "rejected": " "}, {"prompt": "q", "chosen": "a", "rejected": "b"}]
    t = read_pairs(rows)
    assert t.n_rows == 4
    assert t.column("flag.identical_pair").tolist() == [True, False, False, False]
    assert t.column("flag.missing_prompt").tolist() == [False, True, False, False]
    assert t.column("flag.empty_chosen").tolist() == [False, True, False, False]
    assert t.column("flag.empty_rejected").tolist() == [False, False, True, False]
    with pytest.raises(DataError, match="row id 0 .*flag.missing_prompt|row id 1 .*flag.missing_prompt"):
        read_pairs(rows, on_bad="raise")


def test_pairs_roundtrip_through_parquet_and_pandas_with_string_ids(tmp_path: Path) -> None:
    import pandas as pd

    df = pd.DataFrame({"id": ["x", "y"], "prompt": ["p", "q"], "chosen": ["a", "b"], "rejected": ["c", "d"],
                       "topic": ["t1", "t2"]})
    t = read_pairs(df, id_column="id", group_column="topic")
    assert t.row_id.tolist() == ["x", "y"] and t.groups.tolist() == ["t1", "t2"]
    df.to_parquet(tmp_path / "p.parquet")
    t2 = read_pairs(tmp_path / "p.parquet", id_column="id")
    assert t2.column("rejected").tolist() == ["c", "d"]
    back = Table.from_arrow(t.to_arrow())
    assert back.column("chosen").tolist() == ["a", "b"] and back.row_id.tolist() == ["x", "y"]


def test_candidates_one_per_row_and_one_record_per_prompt_agree(tmp_path: Path) -> None:
    flat = [{"prompt": p, "completion": r, "answer": a, "reward.rm": s, "correct": c}
            for p, r, a, s, c in [("q1", "r1", "1", 0.1, True), ("q1", "r2", "2", 0.5, False), ("q2", "r3", "", 0.3, False)]]
    a = read_candidates(_jsonl(tmp_path / "c.jsonl", flat), answer_column="answer", correct_column="correct")
    grouped = [{"prompt": "q1", "completions": ["r1", "r2"], "answers": ["1", "2"], "scores": [0.1, 0.5],
                "ok": [True, False]}, {"prompt": "q2", "completions": ["r3"], "answers": [""], "scores": [0.3], "ok": [False]}]
    b = read_candidates(grouped, response_column="completions", answer_column="answers", correct_column="ok",
                        reward_columns={"rm": "scores"})
    for t in (a, b):
        assert t.column("prompt_id").tolist() == [0, 0, 1]
        assert t.column("response").tolist() == ["r1", "r2", "r3"]
        assert t.column("reward.rm").tolist() == [0.1, 0.5, 0.3]
        assert t.column("correct").tolist() == [1.0, 0.0, 0.0]
        assert t.column("flag.missing_answer").tolist() == [False, False, True]


def test_candidates_need_an_unambiguous_response_field() -> None:
    with pytest.raises(MissingColumnError, match="both"):
        read_candidates([{"prompt": "q", "response": "a", "completion": "b"}])
    with pytest.raises(DataError, match="as long as"):
        read_candidates([{"prompt": "q", "response": ["a", "b"], "answer": ["1"]}], answer_column="answer")
    t = read_candidates([{"prompt": "q", "response": ""}])
    assert t.column("flag.empty_response").tolist() == [True]
    assert np.array_equal(t.row_id, [0])
