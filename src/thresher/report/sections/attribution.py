"""Report section: how well each attribution method predicts retraining (LDS, counterfactual removal).

Reads only ``<run>/attribution/checks.json``, written by
:func:`thresher.evaluate.lds.write_attribution_checks` after :func:`~thresher.evaluate.lds.lds`
and :func:`~thresher.evaluate.lds.counterfactual_check` (Park et al., "TRAK", ICML 2023,
for the linear datamodeling score).
"""

from __future__ import annotations

from thresher.report.model import Paragraph, Section, TableBlock
from thresher.store.rundir import RunDir

__all__ = ["ORDER", "build"]

ORDER = 145


def build(run: RunDir) -> Section | None:
    """Return the attribution-checks section, or None when the run stored no checks."""
    from thresher.evaluate.lds import read_attribution_checks

    checks = read_attribution_checks(run)
    if not checks:
        return None
    rows = []
    for method, e in checks.items():
        lds, cf = e.get("lds"), e.get("counterfactual")
        rows.append([
            method,
            "" if lds is None else f"{lds['value']:.3f} ± {lds['std_error']:.3f}",
            "" if lds is None else f"{lds['n_subsets']} x {lds['alpha']:.0%}",
            "" if cf is None else f"{cf['mean_difference']:+.3f} [{cf['ci_low']:+.3f}, {cf['ci_high']:+.3f}]",
            "" if cf is None else f"k={cf['k']}, {cf['n_rows']} rows",
        ])
    return Section("Attribution checks", [
        Paragraph("LDS: mean over test rows of the Spearman correlation between the outputs an attribution matrix "
                  "predicts for random training subsets and the outputs of models retrained on them (± standard "
                  "error over test rows). Counterfactual: margin drop of a test row after removing its top-k "
                  "attributors minus the drop after removing k random rows, with a 95% interval over test rows; "
                  "an interval above 0 means the method finds rows that matter more than random ones."),
        TableBlock(["method", "LDS", "retrainings", "counterfactual (top - random)", "setting"], rows,
                   caption="Attribution ground truth, from stored retrainings."),
    ])
