"""Agent sizes from run configs: preset defaults with any size overridden in any key order, one clear error for a
wrong key or value, ``--help`` lists the keys, BC trains the sizes asked for and records them, RL takes the same
block and refuses sizes that contradict its checkpoint."""

from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from agents.config import AgentConfig, CoreConfig
from envs.skirmish.spec import skirmish_spec
from training.agent_choice import REPORT_FILE, AgentChoice
from training.agent_io import load_agent, save_agent
from training.bc.cli import main as bc_main
from training.bc.config import BCConfig
from training.checkpoint import CheckpointError
from training.config_io import ConfigError, keys_help, load_config, save_config
from training.quickstart import QuickstartConfig
from training.rl.config import RLConfig
from training.rl.train import initial_agents, train_rl

SPEC = skirmish_spec((32, 32), max_units=64)


def agent_block(*overrides: str, cls: type = BCConfig) -> AgentChoice:
    return load_config(cls, None, list(overrides)).agent


def test_preset_then_overrides_in_any_order(tmp_path):
    expected = AgentChoice.of("alphastar")
    expected.encoder.num_latents = 64
    assert agent_block("agent.preset=alphastar", "agent.encoder.num_latents=64") == expected
    assert agent_block("agent.encoder.num_latents=64", "agent.preset=alphastar") == expected
    config = tmp_path / "bc.yaml"
    config.write_text("agent:\n  encoder: {num_latents: 64}\n")
    assert load_config(BCConfig, config, ["agent.preset=alphastar"]).agent == expected

    # the encoder kind takes the preset's sizes of that kind; other sections keep theirs
    small_transformer = agent_block("agent.encoder.num_layers=2", "agent.encoder.kind=transformer",
                                    "agent.core.hidden=48")  # fmt: skip
    assert small_transformer.encoder == replace(AgentChoice.of("small", "transformer").encoder, num_layers=2)
    assert small_transformer.core == CoreConfig(hidden=48, num_layers=1)
    assert agent_block() == AgentChoice.of("small") and agent_block("agent.preset=alphastar") == AgentChoice.of(
        "alphastar"
    )

    # the saved run config holds every resolved size and loads back to the same agent, preset label included
    cfg = load_config(BCConfig, None, ["agent.preset=alphastar", "agent.encoder.num_latents=64"])
    saved = yaml.safe_load(save_config(cfg, tmp_path / "config.yaml").read_text())["agent"]
    assert saved["encoder"]["num_latents"] == 64 and saved["core"]["hidden"] == 384 and saved["preset"] == "alphastar"
    assert load_config(BCConfig, tmp_path / "config.yaml") == cfg
    assert AgentChoice.from_config(cfg.agent.agent_config()) == cfg.agent


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["agent.encoder.num_latnts=64"], r"agent\.encoder: unknown key 'num_latnts'; valid keys are: kind, "),
        (["agent.encoder.kind=transformer", "agent.encoder.num_latents=64"], r"key 'num_latents'; .* num_layers"),
        (["agent.core.hiden=8"], r"agent\.core: unknown key 'hiden'"),
        (["agent.encoder.num_latents=many"], r"agent\.encoder\.num_latents: expected an integer, got 'many'"),
        (["agent.encoder.num_latents=0"], r"agent\.encoder: num_latents must be >= 1, got 0"),
        (["agent.encoder.kind=lstm"], r"agent\.encoder\.kind: expected one of perceiver, transformer, got 'lstm'"),
        (["agent.encoder=transformer"], r"agent\.encoder: expected a mapping of fields with a kind"),
        (["agent.preset=huge"], r"agent\.preset: expected one of small, alphastar, got 'huge'"),
    ],
)
def test_a_wrong_agent_key_or_value_is_one_clear_error(overrides, message, capsys):
    with pytest.raises(ConfigError, match=message):
        agent_block(*overrides)
    with pytest.raises(ConfigError, match=message):
        agent_block(*overrides, cls=RLConfig)
    assert bc_main(overrides) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("pstar bc: error: ")


def test_sizes_the_modules_refuse_are_a_config_error():
    with pytest.raises(ConfigError, match=r"agent: these sizes do not build an agent \(d_latents \(63\) must be"):
        agent_block("agent.encoder.d_latents=63").build(SPEC)


def test_help_lists_every_agent_key():
    for cls in (BCConfig, RLConfig):
        text = keys_help(cls)
        for key in ("agent.preset", "agent.featurizer.unit_type_dim", "agent.scalar.dim", "agent.encoder.kind",
                    "agent.encoder.num_latents", "agent.core.hidden", "agent.heads.query_hidden"):  # fmt: skip
            assert f"  {key} " in text, (cls, key)
        assert "agent.encoder.num_layers" in text and "transformer only" in text


def test_rl_takes_the_same_agent_block(tmp_path):
    overrides = ["agent.preset=small", "agent.core.hidden=48", "agent.encoder.num_latents=8"]
    rl = load_config(RLConfig, None, [*overrides, "scenarios=[3m]", "max_units=32"])
    assert rl.agent == agent_block(*overrides) and load_config(RLConfig).agent is None
    agent, reference = initial_agents(rl)
    assert reference is None and agent.config.core.hidden == 48 and agent.config.entity_encoder.num_latents == 8

    checkpoint = save_agent(tmp_path / "bc", 1, agent, kind="bc", config={}, counters={})
    same = load_config(RLConfig, None, [*overrides, f"init_checkpoint={checkpoint}"])
    assert initial_agents(same)[0].config == agent.config
    assert initial_agents(load_config(RLConfig, None, [f"init_checkpoint={checkpoint}"]))[0].config == agent.config
    other = load_config(RLConfig, None, [*overrides, "agent.core.hidden=16", f"init_checkpoint={checkpoint}"])
    with pytest.raises(ConfigError, match=r"another agent \(checkpoint vs config: agent\.core\.hidden: 48 vs 16\)"):
        initial_agents(other)
    with pytest.raises(ConfigError, match="rl.agent: RL starts from the BC agent"):
        load_config(QuickstartConfig, None, ["rl.agent.core.hidden=16"])


def test_rl_resume_with_other_sizes_is_refused(tmp_path):
    other = AgentChoice.of("small")
    other.core = CoreConfig(hidden=16, num_layers=1)
    save_agent(tmp_path / "run" / "checkpoints", 1, other.build(SPEC), kind="rl",
               config={}, counters={})  # fmt: skip
    cfg = load_config(RLConfig, None, [f"run_root={tmp_path}", "name=run", "scenarios=[3m]", "backend=inprocess"])
    with pytest.raises(CheckpointError, match=r"agent differs .* agent\.core\.hidden: 16 vs 64\)"):
        train_rl(cfg, resume=True, progress=False)


def test_bc_trains_the_sizes_asked_for_and_records_them(replay_dir, tmp_path, capsys):
    run = [f"replays=[{replay_dir}]", f"run_root={tmp_path}", f"cache_dir={tmp_path}/cache", "name=bc",
           "steps=3", "batch_size=2", "sequence_length=8", "eval_every=0", "val_fraction=0", "device=cpu",
           "threads=1"]  # fmt: skip
    assert bc_main([*run, "agent.encoder.num_latents=64"]) == 0
    agent, checkpoint = load_agent(tmp_path / "bc" / "checkpoints")
    assert agent.config.entity_encoder.num_latents == 64
    assert agent.config == AgentConfig.from_dict(checkpoint.meta["agent"]["agent"])
    assert agent.entity_encoder.encoder.latents.shape[0] == 64
    saved = yaml.safe_load((tmp_path / "bc" / "config.yaml").read_text())["agent"]
    assert saved["encoder"]["num_latents"] == 64 and saved["encoder"]["d_latents"] == 64
    parameters = sum(p.numel() for p in agent.parameters())
    startup = f"agent: {parameters:,} parameters, "
    assert startup in capsys.readouterr().out
    assert "MFLOPs per step at 64 units" in (tmp_path / "bc" / REPORT_FILE).read_text()

    # resuming with other sizes names them instead of failing on a weight shape
    assert bc_main([*run, "steps=4", "agent.encoder.num_latents=16", "--resume", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "agent.encoder.num_latents: 64 vs 16" in err and len(err.splitlines()) == 1
