"""Unit featurizer: raw ``units`` rows (pysc2 ``FeatureUnit`` columns) -> per-unit feature vectors.

Follows AlphaStar's entity features (detailed architecture): a learned unit-type embedding, one-hots of
small integer fields, sqrt one-hots and ratios of health/shields/energy, binary and/or Fourier positions,
order-id embeddings. Columns are found by name in ``spec.unit_columns``: a column the spec does not list, or
lists as unknown (``spec.unknown_columns``: what a replay cannot tell, such as health and orders), is skipped (its
feature is absent, not zero-filled), except the required ``unit_type``, ``alliance``, ``x`` and ``y``. Padding
rows (``unit_mask`` False) come out as exact zeros; only the real rows are featurized (an observation's 64 rows
often hold a handful of units), every one-hot of a row in one scatter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from agents.config import FeaturizerConfig
from agents.spec import PERCENT_DONE, AgentSpec
from perceiver_io.position_encoding import fourier_features

# (column, divisor, number of classes): one-hot of clamp(floor(value / divisor), 0, classes - 1).
ONE_HOTS: tuple[tuple[str, float, int], ...] = (
    ("alliance", 1, 5),
    ("owner", 1, 17),
    ("display_type", 1, 5),
    ("cloak", 1, 5),
    ("is_selected", 1, 2),  # AlphaStar's was_selected
    ("is_blip", 1, 2),
    ("is_powered", 1, 2),
    ("hallucination", 1, 2),
    ("active", 1, 2),
    ("is_on_screen", 1, 2),
    ("is_in_cargo", 1, 2),
    ("cargo_space_taken", 1, 9),
    ("cargo_space_max", 1, 9),
    ("mineral_contents", 100, 19),
    ("vespene_contents", 100, 26),
    ("assigned_harvesters", 1, 24),
    ("ideal_harvesters", 1, 17),
    ("weapon_cooldown", 1, 32),
    ("order_length", 1, 9),
    ("order_progress_0", 10, 11),
    ("order_progress_1", 10, 11),
    ("attack_upgrade_level", 1, 4),
    ("armor_upgrade_level", 1, 4),
    ("shield_upgrade_level", 1, 4),
)
# (column, cap): one-hot of floor(sqrt(min(value, cap))), AlphaStar's health/shield/energy encoding.
SQRT_ONE_HOTS: tuple[tuple[str, float], ...] = (("health", 1500), ("shield", 1000), ("energy", 200))
# (column, scale): the float value / scale. ``None`` means the config's ratio scale.
FLOATS: tuple[tuple[str, float | None], ...] = (
    ("health_ratio", None),
    ("shield_ratio", None),
    ("energy_ratio", None),
    ("build_progress", PERCENT_DONE),
    ("order_progress_0", PERCENT_DONE),
    ("order_progress_1", PERCENT_DONE),
    ("radius", 4.0),
)
ORDER_COLUMNS = ("order_id_0", "order_id_1")


def lookup_index(values: torch.Tensor, vocabulary: torch.Tensor) -> torch.Tensor:
    """Index of each value in the sorted ``vocabulary``; values not in it map to ``len(vocabulary)`` ("other")."""
    idx = torch.searchsorted(vocabulary, values.contiguous())
    found = vocabulary[idx.clamp(max=vocabulary.numel() - 1)] == values
    return torch.where(found, idx, torch.full_like(idx, vocabulary.numel()))


def one_hot(values: torch.Tensor, divisor: float, classes: int) -> torch.Tensor:
    """One-hot [..., classes] of ``floor(values / divisor)`` clamped into range."""
    idx = torch.floor(values / divisor).clamp(0, classes - 1).long()
    return nn.functional.one_hot(idx, classes).to(values.dtype)


class UnitFeaturizer(nn.Module):
    """``units`` [B, N, C] + ``unit_mask`` [B, N] -> features [B, N, out_channels] (padding rows zero)."""

    def __init__(self, spec: AgentSpec, config: FeaturizerConfig | None = None) -> None:
        super().__init__()
        self.config = config or FeaturizerConfig()
        columns: Sequence[str] = spec.unit_columns
        self.column_index = {name: i for i, name in enumerate(columns)}
        self.num_columns = len(columns)
        self.map_size = spec.map_size
        read = set(columns) - spec.unknown_columns
        self.one_hots = [(c, d, n) for c, d, n in ONE_HOTS if c in read]
        self.sqrt_one_hots = [(c, cap, math.isqrt(int(cap)) + 1) for c, cap in SQRT_ONE_HOTS if c in read]
        self.floats = [(c, self.config.ratio_scale if s is None else s) for c, s in FLOATS if c in read]
        self.order_columns = [c for c in ORDER_COLUMNS if c in read]
        self.tracks_targets = "tag" in read  # was_targeted needs tags to follow units across steps
        # the one-hots (then the sqrt one-hots) as one block: value -> class index -> offset into the block
        hots = [(c, d, n, math.inf) for c, d, n in self.one_hots] + [(c, 1, n, cap) for c, cap, n in self.sqrt_one_hots]
        classes = torch.tensor([n for *_, n, _ in hots], dtype=torch.long)
        self.register_buffer("hot_columns", self._columns([c for c, *_ in hots]), persistent=False)
        self.register_buffer("hot_divisors", torch.tensor([float(d) for _, d, *_ in hots]), persistent=False)
        self.plain_hots = len(self.one_hots)  # the block's first columns; the sqrt one-hots' columns follow
        self.register_buffer("sqrt_caps", torch.tensor([cap for *_, cap in hots[self.plain_hots :]]), persistent=False)
        self.register_buffer("hot_top", (classes - 1).float(), persistent=False)
        self.register_buffer("hot_offsets", torch.cumsum(classes, 0) - classes, persistent=False)
        self.hot_channels = sum(n for *_, n, _ in hots)
        self.register_buffer("float_columns", self._columns([c for c, _ in self.floats]), persistent=False)
        self.register_buffer("float_scales", torch.tensor([float(s) for _, s in self.floats]), persistent=False)
        self.register_buffer("order_columns_index", self._columns(self.order_columns), persistent=False)

        unit_ids = list(spec.unit_type_ids)
        self.register_buffer("unit_type_ids", torch.tensor(unit_ids, dtype=torch.float32), persistent=False)
        self.unit_type_embedding = nn.Embedding(len(unit_ids) + 1, self.config.unit_type_dim)
        order_ids = list(spec.order_ids)
        self.register_buffer("order_ids", torch.tensor(order_ids, dtype=torch.float32), persistent=False)
        self.order_embedding = nn.Embedding(len(order_ids) + 1, self.config.order_dim) if self.order_columns else None

        self.out_channels = (
            self.config.unit_type_dim
            + sum(n for _, _, n in self.one_hots)
            + sum(n for _, _, n in self.sqrt_one_hots)
            + len(self.floats)
            + len(self.order_columns) * self.config.order_dim
            + self.position_channels
            + (2 if self.tracks_targets else 0)
        )

    def _columns(self, names: Sequence[str]) -> torch.Tensor:
        return torch.tensor([self.column_index[name] for name in names], dtype=torch.long)

    @property
    def position_channels(self) -> int:
        cfg = self.config
        binary = 2 * cfg.position_bits if cfg.position in ("binary", "both") else 0
        fourier = 2 + 2 * 2 * cfg.fourier_bands if cfg.position in ("fourier", "both") else 0
        return binary + fourier

    def column(self, units: torch.Tensor, name: str) -> torch.Tensor:
        """Column ``name`` of ``units`` [B, N, C] as [B, N]."""
        return units[..., self.column_index[name]]

    def positions(self, units: torch.Tensor) -> list[torch.Tensor]:
        """Binary cell bits (AlphaStar) and/or Fourier features (Perceiver) of x, y over the map."""
        cfg = self.config
        xy = torch.stack([self.column(units, "x") / self.map_size[0], self.column(units, "y") / self.map_size[1]], -1)
        feats = []
        if cfg.position in ("binary", "both"):
            cells = 1 << cfg.position_bits
            cell = torch.floor(xy * cells).clamp(0, cells - 1).long()
            bits = torch.arange(cfg.position_bits - 1, -1, -1, device=units.device)
            feats.append(((cell[..., None] >> bits) & 1).flatten(-2).to(units.dtype))
        if cfg.position in ("fourier", "both"):
            pos = (xy * 2 - 1).clamp(-1, 1)
            feats.append(fourier_features(pos, cfg.fourier_bands, (1 << cfg.position_bits,) * 2).to(units.dtype))
        return feats

    def forward(
        self,
        units: torch.Tensor,
        unit_mask: torch.Tensor,
        was_targeted: torch.Tensor | None = None,
        packed: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``was_targeted`` [B, N] marks the units the previous action targeted (AlphaStar's one-hot of 2).
        ``packed``: only the real rows' features [R, out_channels] and their flat indices [R] into B x N (in
        order), for an encoder that reads nothing else (no padded array built and gathered from again)."""
        if units.dim() != 3 or units.shape[-1] != self.num_columns:
            raise ValueError(f"units must have shape [batch, units, {self.num_columns}], got {tuple(units.shape)}")
        if tuple(unit_mask.shape) != tuple(units.shape[:2]):
            raise ValueError(
                f"unit_mask must have shape [batch, units] = {tuple(units.shape[:2])}, got {tuple(unit_mask.shape)}"
            )
        mask = unit_mask if unit_mask.dtype == torch.bool else unit_mask != 0
        real_rows = mask.reshape(-1).nonzero().squeeze(1)  # flat indices of the real rows, found once
        # [R, C]: the real rows only (garbage, even NaN, in padding rows never read)
        rows = units.reshape(-1, units.shape[-1]).index_select(0, real_rows).float()
        # every feature is written into its columns of one zeroed array (the one-hots scattered in place)
        real = rows.new_zeros(rows.shape[0], self.out_channels)
        column = self.config.unit_type_dim
        real[:, :column] = self.unit_type_embedding(lookup_index(self.column(rows, "unit_type"), self.unit_type_ids))
        if self.hot_channels:
            values = rows.index_select(1, self.hot_columns)
            roots = values[:, self.plain_hots :]  # only these columns: a CPU's sqrt of 0 is a ~20x slower path
            roots.copy_(torch.sqrt(roots.clamp(min=0).minimum(self.sqrt_caps)))
            index = torch.floor(values / self.hot_divisors).clamp(min=0).minimum(self.hot_top).long()
            real[:, column : column + self.hot_channels].scatter_(1, index + self.hot_offsets, 1.0)
            column += self.hot_channels
        feats = []
        if self.floats:
            feats.append(rows.index_select(1, self.float_columns) / self.float_scales)
        if self.order_embedding is not None:
            orders = lookup_index(rows.index_select(1, self.order_columns_index), self.order_ids)
            feats.append(self.order_embedding(orders).flatten(1))
        feats += self.positions(rows)
        if self.tracks_targets:
            targeted = (rows.new_zeros(rows.shape[0]) if was_targeted is None
                        else was_targeted.reshape(-1).index_select(0, real_rows).to(rows.dtype))  # fmt: skip
            feats.append(one_hot(targeted, 1, 2))
        for part in feats:
            real[:, column : column + part.shape[1]] = part
            column += part.shape[1]
        if packed:
            return real, real_rows
        out = real.new_zeros(mask.numel(), real.shape[-1]).index_copy_(0, real_rows, real)
        return out.reshape(*mask.shape, real.shape[-1])
