"""The data-map report section reads a recorded run and counts rows per region."""

from __future__ import annotations

import numpy as np

from thresher.report.model import Figure, TableBlock
from thresher.report.sections.dynamics import build
from thresher.signals.recorder import TrainingRecorder
from thresher.store.rundir import RunDir


def test_data_map_section_from_hand_written_logits(tmp_path) -> None:
    assert build(RunDir(tmp_path)) is None  # nothing recorded
    rec = TrainingRecorder(tmp_path, row_ids=[0, 1, 2], n_classes=2)
    big = np.log(99.0)  # p(label) = 0.99
    # row 0: always confident (easy); row 1: always wrong (hard); row 2: 0.01 then 0.99 (ambiguous)
    for z2 in ([big, 0.0], [0.0, big]):
        rec.log([0, 1, 2], np.array([[0.0, big], [big, 0.0], z2]), [1, 1, 1])
        rec.checkpoint()
    sec = build(RunDir(tmp_path))
    assert sec is not None and any(isinstance(b, Figure) for b in sec.blocks)
    table = [b for b in sec.blocks if isinstance(b, TableBlock)][0]
    assert [r[1] for r in table.rows] == [1, 1, 1]
