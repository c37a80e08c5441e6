"""Which agent a run trains: a preset size and an entity encoder, as a typed config block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.agent import Agent
from agents.config import AgentConfig

PRESETS = ("small", "alphastar")
ENCODERS = ("perceiver", "transformer")


@dataclass
class AgentChoice:
    """``preset``: small (fast on a CPU) or alphastar (paper sizes); ``encoder``: perceiver or transformer."""

    preset: str = "small"
    encoder: str = "perceiver"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"agent.preset must be one of {PRESETS}, got {self.preset!r}")
        if self.encoder not in ENCODERS:
            raise ValueError(f"agent.encoder must be one of {ENCODERS}, got {self.encoder!r}")

    def agent_config(self) -> AgentConfig:
        return getattr(AgentConfig, self.preset)(self.encoder)

    def build(self, spec: dict[str, Any]) -> Agent:
        return Agent(spec, self.agent_config())
