"""Typed sizes of the action heads, with the AlphaStar sizes and a small CPU preset."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class HeadsConfig:
    """Widths shared by the action and value heads.

    ``autoregressive_dim``: the autoregressive embedding carried from head to head (AlphaStar: 1024).
    ``action_type_hidden``: hidden width of the action-type MLP and of the action-type embedding (AlphaStar: 256).
    ``key_dim``: per-unit pointer keys and the selection LSTM (AlphaStar: 32).
    ``query_hidden``: the pointer heads' query MLP and function embedding (AlphaStar: 256).
    ``location_channels``: one stride-2 transposed convolution per entry, so the location logits start at
    ``resolution / 2 ** len(location_channels)`` cells a side (empty: a linear map straight to the grid).
    ``value_hidden``: hidden width of the value MLP.
    ``temperature``: default sampling temperature of every head (AlphaStar: 0.8).
    ``idle_producers``: train and research orders (``Train_*``, ``Research_*``) only from a finished unit with no
    order, so the agent never queues production (``agents.heads.legality``); off: any producer, as StarCraft II.
    """

    autoregressive_dim: int = 64
    action_type_hidden: int = 64
    key_dim: int = 16
    query_hidden: int = 64
    location_channels: tuple[int, ...] = (16, 8)
    value_hidden: int = 64
    temperature: float = 1.0
    idle_producers: bool = False

    def __post_init__(self) -> None:
        sizes = (self.autoregressive_dim, self.action_type_hidden, self.key_dim, self.query_hidden, self.value_hidden)
        if min(sizes) < 1 or any(c < 1 for c in self.location_channels):
            raise ValueError(f"head sizes must be >= 1, got {self}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")

    @classmethod
    def small(cls) -> HeadsConfig:
        """Fast on a CPU."""
        return cls()

    @classmethod
    def alphastar(cls) -> HeadsConfig:
        """AlphaStar's sizes (detailed architecture): embedding 1024, keys/LSTM 32, MLPs 256, temperature 0.8."""
        return cls(
            autoregressive_dim=1024,
            action_type_hidden=256,
            key_dim=32,
            query_hidden=256,
            location_channels=(128, 64, 16),
            value_hidden=256,
            temperature=0.8,
        )
