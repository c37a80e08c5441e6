"""A league's payoff as a report: ``payoff.md`` (the learners' win rates against every member, with their Elo) and
``payoff.png`` (the same matrix as a heat map, unplayed pairs blank)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (the backend must be chosen first)
import numpy as np  # noqa: E402

from training.league import League  # noqa: E402


def write_payoff(league: League, directory: str | Path) -> tuple[Path, Path]:
    """Write ``payoff.md`` and ``payoff.png`` into ``directory``; returns both paths."""
    directory = Path(directory)
    markdown, picture = directory / "payoff.md", directory / "payoff.png"
    markdown.write_text(f"League payoff after {league.games} games (row's win rate against column; draws count "
                        f"half)\n\n{league.markdown()}\n")  # fmt: skip
    rows, columns = league.learners(), list(league.players)
    values = np.array([[np.nan if p is None else p for p in row] for row in league.matrix(rows, columns)])
    figure, axes = plt.subplots(figsize=(1.0 + 0.7 * len(columns), 1.2 + 0.5 * len(rows)))
    image = axes.imshow(np.ma.masked_invalid(values), cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(rows)), [f"{r} ({league.elo[r]:.0f})" for r in rows], fontsize=8)
    for (i, j), p in np.ndenumerate(values):
        if not np.isnan(p):
            axes.text(j, i, f"{100 * p:.0f}", ha="center", va="center", fontsize=7)
    figure.colorbar(image, ax=axes, label="win rate")
    axes.set_title(f"league payoff, {league.games} games")
    figure.tight_layout()
    figure.savefig(picture, dpi=100)
    plt.close(figure)
    return markdown, picture
