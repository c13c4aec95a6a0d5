"""The report model: sections made of paragraphs, tables and figures (no HTML here).

Section builders read a run directory and return these plain objects; ``html.render``
turns them into one self-contained HTML file. Figures are stored as PNG bytes so the
model is picklable and renderer-independent.
"""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Paragraph", "TableBlock", "Figure", "Section", "Report", "Block", "cell", "MISSING"]


@dataclass(frozen=True)
class Paragraph:
    """Plain text (escaped when rendered)."""

    text: str


@dataclass(frozen=True)
class TableBlock:
    """A small table: column names and rows of cells."""

    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""

    @classmethod
    def from_pandas(cls, df: Any, caption: str = "", float_format: str = "{:.4f}") -> TableBlock:
        """Build a table from a DataFrame; floats formatted, missing values shown as a dash."""
        rows = [[cell(v, float_format) for v in r] for r in df.itertuples(index=False)]
        return cls([str(c) for c in df.columns], rows, caption)


MISSING = "—"


def cell(value: Any, float_format: str = "{:.4f}") -> str:
    """Return a table cell's text: floats formatted, missing values (None, NaN, NA) as a dash.

    Examples
    --------
    >>> cell(0.123456), cell(float("nan")), cell(None), cell(3), cell("a")
    ('0.1235', '—', '—', '3', 'a')
    """
    if value is None:
        return MISSING
    if isinstance(value, float):
        return MISSING if math.isnan(value) else float_format.format(value)
    if type(value).__name__ in ("NAType", "NaTType"):
        return MISSING
    return str(value)


@dataclass(frozen=True)
class Figure:
    """A PNG image with a caption, drawn at ``scale`` device pixels per CSS pixel (sharp on HiDPI screens)."""

    png: bytes
    caption: str = ""
    scale: float = 1.0

    @classmethod
    def from_matplotlib(cls, fig: Any, caption: str = "") -> Figure:
        """Render a matplotlib figure to PNG (at 1.5x: 96 CSS px per inch, drawn at 144 dpi) and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=144, bbox_inches="tight", facecolor="white")
        plt.close(fig)
        return cls(buf.getvalue(), caption, scale=1.5)

    @property
    def size(self) -> tuple[int, int]:
        """Return the PNG's (width, height) in pixels, read from its IHDR header."""
        if self.png[:8] != b"\x89PNG\r\n\x1a\n":
            return 0, 0
        w, h = struct.unpack(">II", self.png[16:24])
        return int(w), int(h)


Block = Union[Paragraph, TableBlock, Figure]


@dataclass(frozen=True)
class Section:
    """A titled part of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    """The whole report: a title and its sections in order."""

    title: str
    sections: list[Section]
