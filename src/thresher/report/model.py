"""The report model: sections made of paragraphs, tables and figures (no HTML here).

Section builders read a run directory and return these plain objects; ``html.render``
turns them into one self-contained HTML file. Figures are stored as PNG bytes so the
model is picklable and renderer-independent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Union

__all__ = ["Paragraph", "TableBlock", "Figure", "Section", "Report", "Block"]


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
        rows = [[float_format.format(v) if isinstance(v, float) else v for v in r] for r in df.itertuples(index=False)]
        return cls([str(c) for c in df.columns], rows, caption)


@dataclass(frozen=True)
class Figure:
    """A PNG image with a caption."""

    png: bytes
    caption: str = ""

    @classmethod
    def from_matplotlib(cls, fig: Any, caption: str = "") -> Figure:
        """Render a matplotlib figure to PNG and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return cls(buf.getvalue(), caption)


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
