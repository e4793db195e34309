"""The stages as a bar chart (PNG, drawn with Pillow): one bar per archive and engine, each as 100 % of what
the caller waited, split into the stages in process and the engine's own shares, with the milliseconds beside
it. Archives whose requests take 0.1 ms and 60 ms sit on one chart because every bar is a share of its own wait.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from benchmarks.served_stages import ENGINE_SHARES, EngineShare
from benchmarks.stages import ORDER, StageTimes

__all__ = ["COLORS", "draw_stage_chart"]

# one color per stage (the request's stages in blues and greens, the engines' own in oranges and greys)
COLORS = dict(zip((*ORDER, *ENGINE_SHARES), (
    "#1f77b4", "#6baed6", "#9ecae1", "#c6dbef", "#2ca02c", "#31a354", "#74c476", "#a1d99b", "#9467bd", "#c5b0d5",
    "#ff7f0e", "#fdae6b", "#d62728", "#7f7f7f"), strict=True))
LABEL_WIDTH, BAR_WIDTH, FIGURE_WIDTH, ROW, BAR = 330, 560, 110, 26, 18


def draw_stage_chart(staged: Sequence[StageTimes], shares: Sequence[EngineShare], path: Path, title: str) -> Path:
    """Write the chart to ``path`` (PNG) and return it."""
    rows = _rows(staged, shares)
    present = [name for name in COLORS if any(name in parts for _, _, parts in rows)]
    legend_rows = (len(present) + 3) // 4
    height = 50 + ROW * len(rows) + 30 + 22 * legend_rows
    image = Image.new("RGB", (LABEL_WIDTH + BAR_WIDTH + FIGURE_WIDTH + 20, height), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.load_default(13)
    draw.text((10, 12), title, fill="black", font=ImageFont.load_default(15))
    for index, (label, shown, parts) in enumerate(rows):
        top = 45 + index * ROW
        draw.text((10, top + 2), label, fill="black", font=font)
        left, total = float(LABEL_WIDTH), sum(parts.values())
        for name, milliseconds in parts.items():
            width = BAR_WIDTH * milliseconds / total if total > 0 else 0.0
            draw.rectangle((left, top, left + width, top + BAR), fill=COLORS[name])
            left += width
        draw.text((LABEL_WIDTH + BAR_WIDTH + 8, top + 2), f"{shown:.2f} ms", fill="black", font=font)
    top = 50 + ROW * len(rows)
    for index, name in enumerate(present):
        x, y = 10 + (index % 4) * 250, top + (index // 4) * 22
        draw.rectangle((x, y, x + 14, y + 14), fill=COLORS[name])
        draw.text((x + 20, y), name, fill="black", font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _rows(staged: Sequence[StageTimes], shares: Sequence[EngineShare]) -> list[tuple[str, float, dict[str, float]]]:
    """(label, the ms shown, the parts in order) per bar: each archive in process (its stages' sum), then on each
    engine (the caller's median wait)."""
    rows = []
    for result in staged:
        rows.append((f"{result.archive}, in process", result.total, dict(result.milliseconds)))
        for share in (s for s in shares if s.archive == result.archive):
            parts = {**result.milliseconds, **share.shares}
            rows.append((f"  on {share.engine}", share.served_ms, parts))
    return rows
