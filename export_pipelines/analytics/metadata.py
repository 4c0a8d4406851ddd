"""What a person sees of an analytics partition in the UI: a preview and a chart."""

import base64
import io

import matplotlib

matplotlib.use("Agg")  # no display in a run worker

import pandas as pd
from matplotlib.figure import Figure

_PREVIEW_ROWS = 10


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return "" if value is None or value is pd.NA else str(value).replace("|", "\\|")


def markdown_preview(frame: pd.DataFrame, rows: int = _PREVIEW_ROWS) -> str:
    if frame.empty:
        return "_no rows_"
    names = list(frame.columns)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for record in frame.head(rows).itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v) for v in record) + " |")
    if len(frame) > rows:
        lines.append(f"\n_{rows} of {len(frame)} rows_")
    return "\n".join(lines)


def png_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return buffer.getvalue()


def markdown_image(png: bytes, title: str) -> str:
    """The chart inline in markdown metadata: the UI renders data-URI images."""
    return f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})"
