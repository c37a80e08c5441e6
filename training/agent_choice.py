"""Which agent a run trains: every size of the agent as a typed config block, with a preset giving the defaults.

``agent.preset=alphastar agent.encoder.num_latents=64`` is alphastar's sizes except 64 latents, whatever the
order of the keys; ``agent.encoder.kind`` picks the entity encoder (perceiver | transformer). The block mirrors
:class:`agents.config.AgentConfig` (``encoder`` is its ``entity_encoder``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.agent import Agent
from agents.config import (
    ENTITY_ENCODER_CONFIGS,
    PRESETS,
    AgentConfig,
    CoreConfig,
    EntityEncoderConfig,
    FeaturizerConfig,
    PerceiverEntityEncoderConfig,
    ScalarEncoderConfig,
    entity_encoder_config,
)
from agents.frame import FRAMES
from agents.heads.config import HeadsConfig
from agents.report import format_report, full_observation, model_report
from agents.spec import AgentSpec
from training.config_io import CheckedConfig, ConfigError, flatten, to_dict
from training.config_io import described as _help

REPORT_FILE = "agent.md"


@dataclass
class AgentChoice(CheckedConfig):
    """The agent's sizes. Build one with :meth:`of` (a preset) or from a config file / ``key=value`` overrides;
    setting ``preset`` on an instance changes its label only."""

    preset: str = _help(
        "the default of every size below (listed: small's)", choices=PRESETS, default="small"
    )
    featurizer: FeaturizerConfig = _help("per-unit feature sizes", default_factory=FeaturizerConfig.small)
    scalar: ScalarEncoderConfig = _help(
        "scalar and previous-action embeddings", default_factory=ScalarEncoderConfig.small
    )
    encoder: EntityEncoderConfig = _help(
        f"entity encoder: kind ({' | '.join(ENTITY_ENCODER_CONFIGS)}) and its sizes",
        default_factory=PerceiverEntityEncoderConfig.small,
    )
    core: CoreConfig = _help("recurrent core (LSTM)", default_factory=CoreConfig.small)
    heads: HeadsConfig = _help("action and value heads", default_factory=HeadsConfig.small)
    frame: str = _help(
        "the frame the agent sees the battle in: the map's, or its own side's (player 2 sees itself as player 1; "
        "Skirmish's mirrored scenarios then play alike from both sides)",
        choices=FRAMES,
        default="own_side",
    )

    @classmethod
    def of(cls, preset: str = "small", encoder: str = "perceiver") -> AgentChoice:
        """The ``preset`` sizes with the ``encoder`` kind."""
        return cls._labelled(getattr(AgentConfig, preset)(encoder), preset)

    @classmethod
    def from_config(cls, config: AgentConfig) -> AgentChoice:
        """``config`` as a run-config block, labelled with the preset it differs least from."""
        return min((cls._labelled(config, preset) for preset in PRESETS), key=lambda choice: len(
            cls.of(choice.preset, config.encoder).differences(config)))  # fmt: skip

    @classmethod
    def _labelled(cls, config: AgentConfig, preset: str) -> AgentChoice:
        return cls(preset, config.featurizer, config.scalar, config.entity_encoder, config.core, config.heads,
                   config.frame)  # fmt: skip

    def config_base(self, data: dict[str, Any], where: str) -> AgentChoice:
        """What the keys in ``data`` apply on top of: a changed ``preset`` gives all its sizes, a changed
        ``encoder.kind`` that preset's encoder of the kind (see :mod:`training.config_io`)."""
        preset = data.get("preset", self.preset)
        encoder = data.get("encoder")
        kind = encoder.get("kind", self.encoder.kind) if isinstance(encoder, dict) else self.encoder.kind
        if preset not in PRESETS:
            raise ConfigError(f"{where}.preset: expected one of {', '.join(PRESETS)}, got {preset!r}")
        if kind not in ENTITY_ENCODER_CONFIGS:
            kinds = ", ".join(ENTITY_ENCODER_CONFIGS)
            raise ConfigError(f"{where}.encoder.kind: expected one of {kinds}, got {kind!r}")
        if preset != self.preset:
            return AgentChoice.of(preset, kind)
        if kind != self.encoder.kind:
            return dataclasses.replace(self, encoder=entity_encoder_config(kind, preset))
        return self

    def agent_config(self) -> AgentConfig:
        return AgentConfig(self.featurizer, self.scalar, self.encoder, self.core, self.heads, self.frame)

    def build(self, spec: Any) -> Agent:
        """The agent for ``spec`` (the contract's ``Spec`` or its dict form; ``AgentSpecError`` if the agent cannot
        read it); sizes its modules refuse (e.g. a width not divisible by the heads) raise ``ConfigError``."""
        spec = AgentSpec.from_dict(spec)
        try:
            return Agent(spec, self.agent_config())
        except ValueError as error:
            raise ConfigError(f"agent: these sizes do not build an agent ({error})") from error

    def differences(self, other: AgentConfig) -> list[str]:
        """``agent.<key>: <other's> vs <this>`` for every size in which ``other`` differs from this block."""
        mine, theirs = flatten(to_dict(self)), flatten(to_dict(AgentChoice._labelled(other, self.preset)))
        keys = [key for key in {**theirs, **mine} if key != "preset" and mine.get(key) != theirs.get(key)]
        return [f"agent.{key}: {theirs.get(key, '-')} vs {mine.get(key, '-')}" for key in keys]


def describe_agent(agent: Agent) -> tuple[str, str]:
    """(a few lines for the console, a Markdown record): the agent's sizes, parameters and forward FLOPs of one
    step at ``max_units`` units (per module in the record)."""
    obs = full_observation(agent.spec, next(agent.parameters()).device)
    rows = model_report(agent, obs)
    total, units = rows[-1], obs["units"].shape[1]
    head = f"agent: {total.parameters:,} parameters, {total.flops / 1e6:,.1f} MFLOPs per step at {units} units"
    sizes = {k: v for k, v in to_dict(AgentChoice.from_config(agent.config)).items() if k != "preset"}
    lines = [f"  {part}: " + (" ".join(f"{k}={v}" for k, v in values.items()) if isinstance(values, dict) else
                              str(values)) for part, values in sizes.items()]  # fmt: skip
    console = "\n".join([head, *lines])
    record = f"# Agent\n\n{head}\n\n```\n" + "\n".join(lines) + "\n```\n\n" + format_report(rows) + "\n"
    return console, record


def report_agent(agent: Agent, run_dir: Path, echo: bool) -> str:
    """Write the agent's sizes, parameters and FLOPs per step to ``run_dir/agent.md`` (printed when ``echo``);
    returns the record."""
    console, record = describe_agent(agent)
    if echo:
        print(console, flush=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / REPORT_FILE).write_text(record)
    return record
