"""Figures for the executed pages: a matplotlib Figure (or Axes) as an embedded PNG ``<img>``.

The pages print ``show(fig)`` on a line that markdown-exec hides, so the reader sees only the
library call that drew the figure. Embedding (a data URI) keeps the built site one folder of
pages with no generated image files to track.
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib.pyplot as plt


def show(drawn, alt: str = "figure", dpi: int = 80) -> str:
    """The HTML of ``drawn`` (a Figure, an Axes or an array of Axes) as a PNG; closes the Figure."""
    figure = getattr(drawn, "figure", None)
    if figure is None and hasattr(drawn, "flat"):
        figure = drawn.flat[0].figure
    figure = figure or drawn
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<div class="mm-figure"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></div>\n'
