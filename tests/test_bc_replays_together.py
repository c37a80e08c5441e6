"""BC data from full-game replays re-simulated together in one batched engine (``replay_results``): the same
sequences, infos and skips as each replay re-simulated alone on its own engine, whatever the mix of files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from envs.contract.catalogue import PRODUCTION_PREFIXES
from envs.skirmish.botgame import mirrored, play_bot_game
from envs.skirmish.economy.bot import FullGameBot, apply_full_game_cheats
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.replay import load_replay, replay_together, save_replay
from envs.skirmish.scenario import load_scenario
from training.agent_choice import AgentChoice
from training.bc import dataset as bc_dataset
from training.bc.dataset import BuildSettings, replay_result, replay_results
from training.bc.metrics import evaluate_bc
from training.bc.shards import collate
from training.bc.trainer import BCObjective

SETTINGS = BuildSettings(players="both", sequence_length=8, max_units=512, resolution=64)


def full_game(path: Path, races: tuple[str, str], levels: dict[int, str], seed: int, steps: int,
              wrong_hash: bool = False) -> Path:  # fmt: skip
    """Bots of ``levels`` play ``steps`` steps; ``wrong_hash``: the file records another final hash (a desync only
    the end of its re-simulation finds)."""
    match = FullMatch("duel", races, seed=seed, lenient=True, record=True)
    apply_full_game_cheats(match, levels)
    bots = {p: FullGameBot(levels[p], match.game, p, seed * 2 + p) for p in (1, 2)}
    for _ in range(steps):
        match.step({p: bots[p].act(match.observed[p], match.spec) for p in (1, 2)})
    if wrong_hash:
        match.state_hash = lambda: "0" * 64
    return save_replay(path, match, {p: f"bot:{levels[p]}" for p in (1, 2)})


def test_full_games_re_simulated_together_give_the_sequences_of_each_alone(tmp_path):
    """Three full games of different lengths (one ending its re-simulation while the others go on), a desynced one
    (a wrong final hash: all of it dropped, as alone) and a battle replay, in one call."""
    files = [
        full_game(tmp_path / "a.skreplay", ("terran", "zerg"), {1: "very_hard", 2: "easy"}, 3, 140),
        full_game(tmp_path / "b.skreplay", ("protoss", "terran"), {1: "cheat_insane", 2: "medium"}, 4, 60),
    ]
    desynced = full_game(tmp_path / "c.skreplay", ("zerg", "protoss"), {1: "hard", 2: "very_easy"}, 5, 100, True)
    files.append(desynced)
    files.append(full_game(tmp_path / "d.skreplay", ("zerg", "zerg"), {1: "medium", 2: "medium"}, 6, 110))
    battle = play_bot_game(mirrored(load_scenario("3m"), 1), {1: "hard", 2: "easy"}, seed=1, max_units=512)
    files.insert(1, save_replay(tmp_path / "battle.skreplay", battle, {1: "bot:hard", 2: "bot:easy"}))

    together = replay_results([str(p) for p in files], SETTINGS)
    assert [r.path for r in together] == [str(p) for p in files]
    for path, batched in zip(files, together, strict=True):
        alone = replay_result(str(path), SETTINGS)
        assert batched.skipped == alone.skipped
        if path == desynced:
            assert alone.skipped.startswith("desync: final state hash") and batched.arrays is None
            continue
        assert alone.skipped is None and batched.info == alone.info and batched.stats == alone.stats
        assert batched.arrays.keys() == alone.arrays.keys()
        for key in alone.arrays:
            assert np.array_equal(batched.arrays[key], alone.arrays[key]), (path.name, key)
    assert sum(int(r.info["samples"]) for r in together if r.skipped is None) > 2 * (140 + 60 + 110)


def test_replay_together_reports_each_replays_desync_and_refuses_battles(tmp_path):
    good = full_game(tmp_path / "good.skreplay", ("terran", "terran"), {1: "easy", 2: "easy"}, 7, 40)
    short = load_replay(full_game(tmp_path / "short.skreplay", ("protoss", "zerg"), {1: "hard", 2: "easy"}, 8, 50))
    acted = next(i for i, step in enumerate(short.actions) if i > 10 and step[1])
    short.actions[acted] = {1: [], 2: short.actions[acted][2]}  # an order left out: the game goes another way
    steps: dict[int, list[int]] = {0: [], 1: []}
    errors = replay_together([load_replay(good), short], lambda i, step: steps[i].append(step.index))
    assert errors[0] is None and steps[0] == list(range(40))
    assert errors[1] is not None and errors[1].problem.startswith("desync") and steps[1] == list(range(50))
    battle = play_bot_game(mirrored(load_scenario("3m"), 1), {1: "hard", 2: "easy"}, seed=1, max_units=512)
    path = save_replay(tmp_path / "battle.skreplay", battle, {1: "bot:hard", 2: "bot:easy"})
    try:
        replay_together([load_replay(good), load_replay(path)], lambda i, step: None)
    except ValueError as error:
        assert "battles" in str(error) and "battle.skreplay" in str(error)
    else:
        raise AssertionError("a battle replay was accepted")


def test_a_build_splits_the_files_among_workers_in_batches(tmp_path, monkeypatch):
    """``_results`` hands each worker up to ``REPLAY_BATCH`` consecutive files, and every worker some when they are
    few; the results come back in file order."""
    calls = []

    def fake(paths, settings):
        calls.append(list(paths))
        return [bc_dataset.ReplayResult(p, skipped="x: y") for p in paths]

    monkeypatch.setattr(bc_dataset, "replay_results", fake)
    files = [Path(f"/nowhere/{i:02d}.skreplay") for i in range(21)]
    out = list(bc_dataset._results(files, SETTINGS, workers=1))
    assert [r.path for r in out] == [str(p) for p in files]
    assert [len(c) for c in calls] == [8, 8, 5]
    calls.clear()
    list(bc_dataset._results(files[:6], SETTINGS, workers=1, reuse={str(files[2]): lambda: bc_dataset.ReplayResult(
        "reused")}))  # fmt: skip
    assert calls == [[str(p) for i, p in enumerate(files[:6]) if i != 2]]


def test_production_nll_scores_the_economy_labels_only(tmp_path, one_thread):
    """``action_type/nll_production`` is over the sub-actions labelled Build_/Train_/Research_/Morph_: an agent whose
    action-type logits favour those types scores it lower; a battle, with none of them, has no such metric."""
    path = full_game(tmp_path / "a.skreplay", ("terran", "protoss"), {1: "very_hard", 2: "very_hard"}, 7, 40)
    result = replay_result(str(path), BuildSettings(players="both", sequence_length=40, max_units=512, resolution=64))
    batch = collate([{key: value[0] for key, value in result.arrays.items()}])  # player 1's 40 steps
    names = [t["name"] for t in result.spec["action_types"]]
    favoured = torch.tensor([name.startswith(PRODUCTION_PREFIXES) for name in names])
    assert bool(favoured[batch["action_type"][batch["valid"]].long()].any())  # the bots order workers and supply
    torch.manual_seed(0)
    agent = AgentChoice().build(result.spec)
    plain = evaluate_bc(agent, [batch])
    with torch.no_grad():
        agent.heads.action_type.logits[-1].bias += 20.0 * favoured
    biased = evaluate_bc(agent, [batch])
    assert 0.0 < biased["action_type/nll_production"] < 0.5 * plain["action_type/nll_production"]
    assert biased["action_type/nll"] > plain["action_type/nll"]  # every no_op label now costs ~20 nats

    battle = play_bot_game(mirrored(load_scenario("3m"), 1), {1: "hard", 2: "easy"}, seed=1, max_units=512)
    battle_result = replay_result(str(save_replay(tmp_path / "b.skreplay", battle, {1: "bot:hard", 2: "bot:easy"})),
                                  SETTINGS)  # fmt: skip
    arrays = battle_result.arrays
    batch = collate([{key: value[i] for key, value in arrays.items()} for i in range(len(arrays["valid"]))])
    assert "action_type/nll_production" not in evaluate_bc(AgentChoice().build(battle_result.spec), [batch])


def test_production_weight_weighs_the_steps_that_send_a_production_order(tmp_path, one_thread):
    """``production_weight=w`` adds (w - 1) times the loss of the steps whose labels hold a Build_/Train_/... order
    (keyframes) to the plain loss, and leaves the reported per-head NLL as it was."""
    path = full_game(tmp_path / "a.skreplay", ("zerg", "terran"), {1: "very_hard", 2: "very_hard"}, 3, 40)
    result = replay_result(str(path), BuildSettings(players="both", sequence_length=40, max_units=512, resolution=64))
    batch = collate([{key: value[0] for key, value in result.arrays.items()}])
    names = [t["name"] for t in result.spec["action_types"]]
    production = torch.tensor([name.startswith(PRODUCTION_PREFIXES) for name in names])
    kinds = batch["action_type"].long()
    keyframe = (production[kinds.clamp(min=0)] & (kinds >= 0)).any(-1) & batch["valid"].bool()
    assert 0 < int(keyframe.sum()) < int(batch["valid"].sum())  # some steps order, most do not
    torch.manual_seed(0)
    agent = AgentChoice().build(result.spec)
    with torch.no_grad():
        plain, nll = BCObjective(agent, {})(batch)
        weighted, same = BCObjective(agent, {}, production_weight=3.0)(batch)
        only = dict(batch, valid=keyframe.to(batch["valid"].dtype))
        keyframes, _ = BCObjective(agent, {})(only)
    share = float(keyframe.sum()) / float(batch["valid"].sum())
    assert float(weighted) == pytest.approx(float(plain) + 2.0 * share * float(keyframes), rel=1e-5)
    assert float(keyframes) > 0 and all(torch.equal(nll[h], same[h]) for h in nll)
