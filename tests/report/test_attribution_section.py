"""The attribution-checks section lists what write_attribution_checks stored, and nothing otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from thresher.evaluate.lds import SubsetOutputs, counterfactual_check, lds, read_attribution_checks, write_attribution_checks
from thresher.report.model import TableBlock
from thresher.report.sections.attribution import build
from thresher.store.rundir import RunDir


def test_section_reads_stored_checks(tmp_path) -> None:
    assert build(RunDir(tmp_path)) is None
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3))
    masks = rng.random((10, 20)) < 0.5
    r = lds(A, SubsetOutputs(masks, masks @ A, 0.5, 3, np.arange(10)))
    cf = counterfactual_check(A, lambda idx, s: A[idx].sum(axis=0), 20, [0, 1, 2], k=3)
    write_attribution_checks(tmp_path, "exact", lds_result=r)
    write_attribution_checks(tmp_path, "exact", counterfactual=cf)
    stored = read_attribution_checks(tmp_path)
    assert stored["exact"]["lds"]["value"] == pytest.approx(1.0) and stored["exact"]["lds"]["entropy"] == 3
    assert stored["exact"]["counterfactual"]["mean_difference"] == cf.mean_difference
    sec = build(RunDir(tmp_path))
    assert sec is not None
    table = [b for b in sec.blocks if isinstance(b, TableBlock)][0]
    assert table.rows[0][0] == "exact" and table.rows[0][1].startswith("1.000")
