"""Evaluation against the built-in bots (``training.eval``): plan, games, backends, reports and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from envs.skirmish.ladder import LadderGame, play_ladder_game
from envs.skirmish.spec import skirmish_spec
from training.agent_choice import AgentChoice
from training.agent_io import save_agent
from training.checkpoint import CheckpointError
from training.config_io import ConfigError, load_config
from training.eval.cli import main
from training.eval.config import EvalConfig, EvalError
from training.eval.games import EvalGame, GameOutcome, plan_games, play_games
from training.eval.players import load_player
from training.eval.report import (
    EvalResult,
    compare_markdown,
    default_out_dir,
    one_sided_two_proportion_test,
    wilson_interval,
    write_reports,
)
from training.eval.runner import evaluate

AGENT_LEVELS = ["very_easy", "hard"]
CHECKPOINT_STEP = 1234


def _agent_config(**overrides) -> EvalConfig:
    """Two short agent games per level on 3m (at most 60 steps each)."""
    fields = dict(levels=AGENT_LEVELS, scenarios=["3m"], games=2, backend="inprocess", batch_size=2, task_games=1)
    return EvalConfig(**{**fields, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory holding one untrained small agent checkpoint for 32x32 maps (step 1234), sending up to 2
    actions per step (the default budget)."""
    run = tmp_path_factory.mktemp("eval_run")
    torch.manual_seed(0)
    agent = AgentChoice().build(skirmish_spec((32, 32), max_units=64))
    save_agent(run / "checkpoints", CHECKPOINT_STEP, agent, kind="rl", config={}, counters={})
    return run


@pytest.fixture(scope="module")
def agent_result(run_dir):
    return evaluate(_agent_config(), str(run_dir), progress=False)


def test_wilson_interval_known_values():
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_interval(50, 100) == pytest.approx((0.4038, 0.5962), abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_one_sided_two_proportion_test_known_values():
    z, p = one_sided_two_proportion_test(56, 160, 40, 160)  # 35% vs 25%: pooled 30%, se 0.0512
    assert z == pytest.approx(1.9518, abs=1e-4) and p == pytest.approx(0.02548, abs=1e-5)
    z, p = one_sided_two_proportion_test(40, 160, 56, 160)  # the other direction is not significant
    assert z == pytest.approx(-1.9518, abs=1e-4) and p == pytest.approx(1 - 0.02548, abs=1e-5)
    assert one_sided_two_proportion_test(0, 10, 0, 20) == (0.0, 0.5) == one_sided_two_proportion_test(5, 5, 9, 9)
    with pytest.raises(ValueError, match="expected games on both sides"):
        one_sided_two_proportion_test(1, 0, 1, 2)


def test_preset_yaml_is_the_default_config():
    preset = Path(__file__).resolve().parents[1] / "configs" / "eval.yaml"
    assert load_config(EvalConfig, preset) == EvalConfig()


def test_plan_pairs_games_over_scenarios_with_sides_swapped():
    plan = plan_games(["easy"], ["3m", "8m"], 6, seed=5)
    assert [(g.scenario, g.variant, g.side) for g in plan] == [
        ("3m", 5, 1),
        ("3m", 5, 2),
        ("8m", 5, 1),
        ("8m", 5, 2),
        ("3m", 6, 1),
        ("3m", 6, 2),
    ]


def test_games_are_built_as_before_the_one_builder():
    """Same games, same outcomes as eval's own match builder gave (measured before ``botgame.bot_match``; re-measure
    when the engine or the bots change on purpose; last: the action budget of 2 per step)."""
    source = load_player("bot:medium")
    games = [EvalGame(i, level, scenario, variant, swapped) for i, (level, scenario, variant, swapped) in enumerate(
        [("easy", "3m", 3, False), ("cheat_insane", "2s3z", 4, True), ("hard", "3m", 5, True),
         ("cheat_money", "2s3z", 1, False)])]  # fmt: skip
    outcomes = play_games(source.player(2), source, games)
    assert [(o.result, o.steps) for o in outcomes] == [("win", 21), ("loss", 33), ("win", 35), ("loss", 30)]


def test_bot_vs_bot_equals_the_ladder_games():
    config = EvalConfig(
        levels=["very_easy", "medium"],
        scenarios=["3m", "2s3z"],
        games=4,
        backend="inprocess",
        batch_size=3,
        task_games=3,
    )
    result = evaluate(config, "bot:hard", progress=False)
    assert len(result.outcomes) == 8
    for outcome in result.outcomes:
        g = outcome.game
        ladder = play_ladder_game(LadderGame(g.index, g.scenario, "hard", g.level, g.variant, g.swapped, 8, False))
        assert (outcome.result, outcome.steps) == (ladder.result, ladder.steps), g
    for level, row in result.levels.items():
        games = [o for o in result.outcomes if o.game.level == level]
        assert row.games == 4 and row.wins == sum(o.result == "win" for o in games)
        assert row.win_rate == row.wins / row.games
        assert sum(r.games for r in result.per_scenario[level].values()) == 4


def test_random_scenarios_give_each_pair_its_own_battle_on_the_agents_map(run_dir, monkeypatch):
    """``random``: pair p plays random_scenario(seed + p) fitted to the agent's 32x32 map, both games of a pair the
    same battle with sides swapped; an agent plays them strictly."""
    import training.eval.games as games_module

    built = []
    real = games_module.random_scenario

    def spy(seed, **kwargs):
        scenario = real(seed, **kwargs)
        built.append((seed, scenario.name, kwargs["map_size"], (scenario.map_width, scenario.map_height)))
        return scenario

    monkeypatch.setattr(games_module, "random_scenario", spy)
    source = load_player(str(run_dir))
    plan = plan_games(["very_easy"], ["random"], 6, seed=3)
    outcomes = play_games(source.player(3), source, plan)
    assert [o.game.side for o in outcomes] == [1, 2, 1, 2, 1, 2] and all(o.illegal_actions == 0 for o in outcomes)
    assert [b[:2] for b in built] == [(v, f"random_{v}") for v in (3, 3, 4, 4, 5, 5)]
    assert all(map_size == (32.0, 32.0) == size for _, _, map_size, size in built)


def test_agent_reports_write_json_markdown_png_and_tensorboard(agent_result, run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert agent_result.step == CHECKPOINT_STEP and list(agent_result.levels) == AGENT_LEVELS
    out_dir = default_out_dir(agent_result)
    assert out_dir == run_dir / "eval"
    paths = write_reports(agent_result, out_dir)
    data = json.loads(paths["json"].read_text())
    assert set(data["levels"]) == set(AGENT_LEVELS) and data["games"] == 4
    assert data["per_scenario"]["hard"]["3m"]["games"] == 2
    markdown = paths["markdown"].read_text()
    for level in AGENT_LEVELS:
        assert sum(line.startswith(f"| {level} |") for line in markdown.splitlines()) == 1
    assert "4 games in" in markdown
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = EventAccumulator(str(paths["tensorboard"]))
    events.Reload()
    for level in AGENT_LEVELS:
        (scalar,) = events.Scalars(f"charts/win_rate/{level}")
        assert scalar.step == CHECKPOINT_STEP
        assert scalar.value == pytest.approx(agent_result.levels[level].win_rate)


def test_results_do_not_depend_on_backend_or_workers(agent_result, run_dir, ray_session):
    on_ray = evaluate(_agent_config(backend="ray", workers=2), str(run_dir), progress=False)
    assert on_ray.workers == 2
    assert [(o.game, o.result, o.steps) for o in on_ray.outcomes] == [
        (o.game, o.result, o.steps) for o in agent_result.outcomes
    ]


def test_scenario_map_must_fit_the_agent_spec(run_dir):
    with pytest.raises(EvalError, match="64x64 map.*32x32"):
        evaluate(_agent_config(scenarios=["3m", "64v64_mixed"]), str(run_dir), progress=False)


def test_bad_player_and_config_errors(tmp_path):
    with pytest.raises(EvalError, match="unknown bot level 'impossible'"):
        evaluate(_agent_config(), "bot:impossible", progress=False)
    with pytest.raises(CheckpointError, match="not found"):
        evaluate(_agent_config(), str(tmp_path / "missing"), progress=False)
    with pytest.raises(ConfigError, match=r"EvalConfig\.levels\[1\]: expected one of very_easy, .*, got 'godlike'"):
        load_config(EvalConfig, None, ["levels=[easy,godlike]"])


def test_compare_markdown_puts_results_side_by_side(agent_result):
    table = compare_markdown({"BC": agent_result, "RL": agent_result}).splitlines()
    assert table[0] == "| level | BC | RL |"
    assert [line.split(" | ")[0] for line in table[2:]] == ["| very_easy", "| hard", "| **all**"]


def test_cli_help(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    assert "pstar eval" in capsys.readouterr().out


def test_cli_writes_reports_and_fails_cleanly(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "bot:easy",
            "--quiet",
            "backend=inprocess",
            "levels=[very_easy]",
            "scenarios=[3m]",
            "games=2",
            f"out_dir={out}",
        ]
    )
    assert code == 0
    assert "| very_easy | 2 |" in capsys.readouterr().out
    assert {p.name for p in out.iterdir()} >= {"eval.json", "eval.md", "eval.png"}
    for argv in (["bot:easy", "levels=[nope]"], ["bot:nope"], [str(tmp_path / "missing")]):
        assert main([*argv, "--quiet", "backend=inprocess"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pstar eval: ") and len(err.splitlines()) == 1


def test_an_unwritable_out_dir_stops_before_the_games_and_a_failed_write_keeps_the_table(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    argv = ["bot:easy", "--quiet", "backend=inprocess", "levels=[very_easy]", "scenarios=[3m]", "games=2"]
    monkeypatch.setattr("training.eval.cli.evaluate", lambda *a, **k: pytest.fail("no game before the check"))
    assert main([*argv, f"out_dir={blocker / 'eval'}"]) == 2
    assert f"pstar eval: error: eval out_dir {blocker / 'eval'}: cannot be written" in capsys.readouterr().err
    monkeypatch.undo()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("training.eval.cli.write_reports", full_disk)
    assert main([*argv, f"out_dir={tmp_path / 'out'}"]) == 1
    captured = capsys.readouterr()
    assert "| very_easy | 2 |" in captured.out  # the results are printed before the reports are written
    assert "the reports cannot be written ([Errno 28] No space left on device)" in captured.err


def test_reports_count_illegal_actions_and_units_dropped_per_step():
    game = EvalGame(0, "easy", "3m", 0, False)
    result = EvalResult.from_outcomes(
        [GameOutcome(game, "win", 10, 2, 0), GameOutcome(game, "loss", 30, 0, 100)], player="p", scenarios=["3m"],
        games_per_level=2, seed=0, greedy=False, temperature=None, backend="inprocess", workers=1,
    )  # fmt: skip
    level = result.levels["easy"]
    assert level.illegal_actions == 2 and level.illegal_actions_per_step == pytest.approx(2 / 40)
    assert level.units_dropped == 100 and level.units_dropped_per_step == pytest.approx(2.5)
    assert result.to_json()["levels"]["easy"]["illegal_actions_per_step"] == pytest.approx(0.05)
    assert result.to_json()["levels"]["easy"]["units_dropped_per_step"] == pytest.approx(2.5)
    assert "| 0.0500 | 2.50 |" in result.to_markdown()


def test_agents_as_opponents_play_like_levels_and_the_same_games_on_every_backend(run_dir, ray_session):
    """``opponents=[<checkpoint>]``: the agent plays like a level (its own row), deterministically on either
    backend; here bot:hard against the untrained agent, which the agent's own evaluation loses to hard."""
    config = _agent_config(levels=["very_easy"], opponents=[str(run_dir)], games=4)
    result = evaluate(config, "bot:hard", progress=False)
    assert list(result.levels) == ["very_easy", str(run_dir)] and result.levels[str(run_dir)].games == 4
    assert result.levels[str(run_dir)].wins >= 3 > result.levels[str(run_dir)].losses  # (hard beats it)
    on_ray = evaluate(config.__class__(**{**config.__dict__, "backend": "ray", "workers": 2}), "bot:hard",
                      progress=False)  # fmt: skip
    assert [(o.game, o.result, o.steps) for o in on_ray.outcomes] == [
        (o.game, o.result, o.steps) for o in result.outcomes]
    with pytest.raises(EvalError, match="opponent 'bot:easy': expected an agent"):
        evaluate(_agent_config(opponents=["bot:easy"]), str(run_dir), progress=False)
    with pytest.raises(ConfigError, match="opponents: expected each opponent once"):
        load_config(EvalConfig, None, ["levels=[easy]", f"opponents=[{run_dir}, {run_dir}]"])
