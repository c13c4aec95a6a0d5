"""One colour per arm for every plot of a report, keyed by the arm's name.

Random is always black (dashed) and the full-data line grey; the other arms take Paul
Tol's colour-blind-safe "bright" and "muted" qualitative schemes in the sorted order of
every arm name the run holds (evaluated arms and stored selections), so an arm has the
same colour in the accuracy curves, the representativeness panels and any plug-in
section that asks :func:`run_palette` for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from thresher.store.rundir import RunDir

__all__ = ["RANDOM_COLOR", "FULL_COLOR", "arm_palette", "run_palette", "line_style"]

RANDOM_COLOR = "#000000"
FULL_COLOR = "#777777"
# Tol bright (minus its grey) then Tol muted, the pale yellows last: 13 colours before any repeats.
_COLORS = [
    "#4477AA", "#EE6677", "#228833", "#AA3377", "#66CCEE", "#CCBB44",
    "#332288", "#117733", "#44AA99", "#882255", "#88CCEE", "#CC6677", "#DDCC77",
]  # fmt: skip


def arm_palette(names: Iterable[str]) -> dict[str, str]:
    """Return a colour per arm name: random black, full grey, the rest in sorted-name order.

    Examples
    --------
    >>> p = arm_palette(["kcenter", "random", "easy", "full"])
    >>> p["random"], p["full"], p["easy"], p["kcenter"]
    ('#000000', '#777777', '#4477AA', '#EE6677')
    """
    out = {"random": RANDOM_COLOR, "full": FULL_COLOR}
    others = sorted({str(n) for n in names} - set(out))
    for i, name in enumerate(others):
        out[name] = _COLORS[i % len(_COLORS)]
    return out


def run_palette(run: RunDir) -> dict[str, str]:
    """Return :func:`arm_palette` over every arm name the run holds (evaluation records and selections)."""
    names = {k.split("__")[0] for k in run.selection_keys()}
    records = run.read_evaluation()
    if len(records):
        names |= {str(a) for a in records["arm"].unique()}
    return arm_palette(names)


def line_style(arm: str, palette: dict[str, str]) -> dict[str, Any]:
    """Return matplotlib keyword arguments for an arm's line (random dashed and thicker)."""
    style: dict[str, Any] = {"color": palette.get(arm, FULL_COLOR)}
    if arm == "random":
        style.update(linestyle="--", linewidth=2)
    return style
