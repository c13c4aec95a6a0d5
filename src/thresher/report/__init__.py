"""HTML report built from a run directory's artifacts only."""

from thresher.report.html import build_report, render_html, write_report
from thresher.report.model import Figure, Paragraph, Report, Section, TableBlock

__all__ = ["Figure", "Paragraph", "Report", "Section", "TableBlock", "build_report", "render_html", "write_report"]
