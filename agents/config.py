"""Typed configs of the agent (featurizer, scalar encoder, entity encoders, core, whole agent), each with presets.

``alphastar()`` follows AlphaStar's entity encoder and the Perceiver IO paper's StarCraft II experiment
(see shared/notes/FACTS.md); ``small()`` keeps the same structure at widths that run fast on a CPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from agents.frame import FRAMES
from agents.heads.config import HeadsConfig

POSITION_ENCODINGS = ("binary", "fourier", "both")
PRESETS = ("small", "alphastar")


def _check_sizes(config: object, names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` naming the first of the size fields ``names`` of ``config`` below 1."""
    for name in names:
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(config, name)}")


@dataclass
class FeaturizerConfig:
    """Per-unit feature sizes. ``position``: AlphaStar's binary x/y bits, Perceiver Fourier features, or both.

    ``ratio_scale`` is what the ``*_ratio`` columns hold at full value (pysc2 reports ``int(ratio * 255)``).
    """

    unit_type_dim: int = 32
    order_dim: int = 16
    position: str = "both"
    position_bits: int = 8
    fourier_bands: int = 8
    ratio_scale: float = 255.0

    def __post_init__(self) -> None:
        if self.position not in POSITION_ENCODINGS:
            raise ValueError(f"position must be one of {POSITION_ENCODINGS}, got {self.position!r}")
        _check_sizes(self, ("unit_type_dim", "order_dim", "position_bits", "fourier_bands"))

    @classmethod
    def small(cls) -> FeaturizerConfig:
        return cls(unit_type_dim=16, order_dim=8, position="both", position_bits=6, fourier_bands=4)

    @classmethod
    def alphastar(cls) -> FeaturizerConfig:
        return cls(unit_type_dim=64, order_dim=32, position="both", position_bits=8, fourier_bands=16)


@dataclass
class ScalarEncoderConfig:
    """Width of the scalar embedding and of the previous-action-type embedding; ``unit_counts`` adds AlphaStar's
    bag of the agent's own units by type (``agents.unit_counts``) to the embedding's input, ``available_actions``
    the observation's available-action flags (AlphaStar's scalar input of the same name), ``macro_inputs`` the free
    supply and what the own units have on the way (``agents.macro_inputs``; full games only)."""

    dim: int = 64
    action_dim: int = 16
    unit_counts: bool = False
    available_actions: bool = False
    macro_inputs: bool = False

    def __post_init__(self) -> None:
        _check_sizes(self, ("dim", "action_dim"))

    @classmethod
    def small(cls) -> ScalarEncoderConfig:
        return cls(dim=32, action_dim=8)

    @classmethod
    def alphastar(cls) -> ScalarEncoderConfig:
        return cls(dim=128, action_dim=32)


@dataclass
class PerceiverEntityEncoderConfig:
    """Perceiver IO entity encoder: tokens -> ``num_latents`` latents -> per-unit decoder queries (the tokens).

    ``token_channels`` is the entity-feature width the adapter projects to (Table 6: 128); the latent width is
    not given by the paper, 512 keeps its FLOPs near the reported 0.93B at 512 units.
    ``unit_dim``/``entity_dim``: AlphaStar's unchanged ``entity_embeddings`` (Conv1D 256) and
    ``embedded_entity`` (Linear 256). ``unit_max_pool``: see ``agents.encoders.base.UnitMaxPool``.
    """

    kind: str = "perceiver"
    token_channels: int = 128
    num_latents: int = 32
    d_latents: int = 512
    num_self_attends: int = 3
    num_self_attention_heads: int = 8
    num_cross_attention_heads: int = 1
    num_decoder_heads: int = 1
    widening_factor: int = 1
    unit_dim: int = 256
    entity_dim: int = 256
    unit_max_pool: bool = False

    def __post_init__(self) -> None:
        if self.kind != "perceiver":
            raise ValueError(f"kind must be 'perceiver', got {self.kind!r}")
        _check_sizes(self, tuple(f for f in self.__dataclass_fields__ if f not in ("kind", "unit_max_pool")))

    @classmethod
    def small(cls) -> PerceiverEntityEncoderConfig:
        return cls(
            token_channels=32, num_latents=32, d_latents=64, num_self_attention_heads=4, unit_dim=64, entity_dim=64
        )

    @classmethod
    def alphastar(cls) -> PerceiverEntityEncoderConfig:
        return cls()


@dataclass
class TransformerEntityEncoderConfig:
    """AlphaStar's entity Transformer: project to ``dim``, ``num_layers`` x self-attention, MLP ``dim*widening``.

    Each of the ``num_heads`` heads has keys/queries/values of ``head_channels`` (AlphaStar: 2 x 128, projected
    back to 256 and summed, i.e. one 256 -> 256 output projection). ``unit_max_pool``: see
    ``agents.encoders.base.UnitMaxPool``.
    """

    kind: str = "transformer"
    dim: int = 256
    num_layers: int = 3
    num_heads: int = 2
    head_channels: int = 128
    widening_factor: int = 4
    unit_dim: int = 256
    entity_dim: int = 256
    unit_max_pool: bool = False

    def __post_init__(self) -> None:
        if self.kind != "transformer":
            raise ValueError(f"kind must be 'transformer', got {self.kind!r}")
        _check_sizes(self, tuple(f for f in self.__dataclass_fields__ if f not in ("kind", "unit_max_pool")))

    @classmethod
    def small(cls) -> TransformerEntityEncoderConfig:
        return cls(dim=64, head_channels=32, unit_dim=64, entity_dim=64)

    @classmethod
    def alphastar(cls) -> TransformerEntityEncoderConfig:
        return cls()


EntityEncoderConfig = PerceiverEntityEncoderConfig | TransformerEntityEncoderConfig
ENTITY_ENCODER_CONFIGS: dict[str, type[PerceiverEntityEncoderConfig] | type[TransformerEntityEncoderConfig]] = {
    "perceiver": PerceiverEntityEncoderConfig,
    "transformer": TransformerEntityEncoderConfig,
}


def entity_encoder_config(kind: str, preset: str = "small", **overrides: Any) -> EntityEncoderConfig:
    """The ``preset`` ("small" | "alphastar") config of encoder ``kind``, with field ``overrides``."""
    if kind not in ENTITY_ENCODER_CONFIGS:
        raise ValueError(f"unknown entity encoder kind {kind!r}; expected one of {sorted(ENTITY_ENCODER_CONFIGS)}")
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; expected one of {PRESETS}")
    base = getattr(ENTITY_ENCODER_CONFIGS[kind], preset)()
    return type(base)(**{**base.__dict__, **overrides})


@dataclass
class CoreConfig:
    """The recurrent core: an LSTM of ``num_layers`` x ``hidden`` (AlphaStar: 3 x 384).

    ``enabled=False`` replaces it with a memoryless Linear(hidden) -> ReLU, whose state is empty.
    """

    enabled: bool = True
    hidden: int = 128
    num_layers: int = 1

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.num_layers < 1:
            raise ValueError(f"core sizes must be >= 1, got {self}")

    @classmethod
    def small(cls) -> CoreConfig:
        return cls(hidden=64, num_layers=1)

    @classmethod
    def alphastar(cls) -> CoreConfig:
        return cls(hidden=384, num_layers=3)


@dataclass
class AgentConfig:
    """The whole agent: featurizer, scalar encoder, entity encoder (its ``kind`` picks it), core and heads, and the
    ``frame`` it sees the battle in (``agents.frame``: the map's, or its own side's, where player 2 sees itself as
    player 1).

    ``to_dict``/``from_dict`` give a plain, JSON-serialisable dict, so a checkpoint can rebuild the agent.
    """

    featurizer: FeaturizerConfig = field(default_factory=FeaturizerConfig.small)
    scalar: ScalarEncoderConfig = field(default_factory=ScalarEncoderConfig.small)
    entity_encoder: EntityEncoderConfig = field(default_factory=PerceiverEntityEncoderConfig.small)
    core: CoreConfig = field(default_factory=CoreConfig.small)
    heads: HeadsConfig = field(default_factory=HeadsConfig.small)
    frame: str = "own_side"

    def __post_init__(self) -> None:
        if self.frame not in FRAMES:
            raise ValueError(f"frame must be one of {FRAMES}, got {self.frame!r}")

    @property
    def encoder(self) -> str:
        """The entity encoder kind: "perceiver" | "transformer"."""
        return self.entity_encoder.kind

    @classmethod
    def small(cls, encoder: str = "perceiver") -> AgentConfig:
        """Fast on a CPU."""
        return cls(entity_encoder=entity_encoder_config(encoder, "small"))

    @classmethod
    def alphastar(cls, encoder: str = "perceiver") -> AgentConfig:
        """AlphaStar's sizes (the Perceiver IO paper's for the Perceiver encoder)."""
        return cls(
            featurizer=FeaturizerConfig.alphastar(),
            scalar=ScalarEncoderConfig.alphastar(),
            entity_encoder=entity_encoder_config(encoder, "alphastar"),
            core=CoreConfig.alphastar(),
            heads=HeadsConfig.alphastar(),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentConfig:
        encoder = dict(data["entity_encoder"])
        heads = dict(data["heads"])
        heads["location_channels"] = tuple(heads["location_channels"])  # JSON turns tuples into lists
        return cls(
            featurizer=FeaturizerConfig(**data["featurizer"]),
            scalar=ScalarEncoderConfig(**data["scalar"]),
            entity_encoder=entity_encoder_config(encoder.pop("kind"), **encoder),
            core=CoreConfig(**data["core"]),
            heads=HeadsConfig(**heads),
            frame=data.get("frame", "map"),  # checkpoints from before the own_side frame saw the map's
        )
