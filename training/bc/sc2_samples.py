""".SC2Replay files -> behaviour-cloning sequences that teach the action-type and selected-units heads only.

A real replay records each human command (ability, selection, target) but not the game state the player saw:
``envs.sc2replay`` rebuilds an approximate unit list from tracker events (positions sampled, health absent). So
only the two heads whose labels and inputs the replay supports are taught: ``head_mask`` leaves target unit,
location and queued out of the loss and the metrics. No label is invented for them: the target unit is absent
(-1, which the heads leave unscored, so the next step's previous-target input is "none", not a guess) and the
location is the grid's first cell. Each command is its own sample: a step of one action, padded up to the spec's
``actions_per_step`` with actions of unknown type (-1), which teach nothing (a replay does not say which commands
the player gave on the same game state, so whether the step ended after this one is not known either). Commands whose
ability has no contract action type, or whose selection has no own unit among the rows, are dropped and counted.
AI players' commands are not in replays; ``players`` picks among the humans (``winner``: the humans who won).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from agents.heads.action_heads import HEADS
from training.bc.dataset import ActionRules, BuildSettings, ReplayResult, Sample, concatenate, to_sequences

SUFFIX = ".sc2replay"  # compared lower-cased: files end in .SC2Replay
TAUGHT = ("action_type", "selected_units")
HEAD_MASK = tuple(head in TAUGHT for head in HEADS)


def is_sc2_replay(path: str) -> bool:
    return path.lower().endswith(SUFFIX)


def _players(settings: BuildSettings, replay: Any) -> list[int]:
    humans = sorted(replay.samples)
    if settings.players == "both":
        return humans
    if settings.players == "winner":
        return [p.id for p in replay.info.players if p.id in humans and p.result == "Win"]
    return [int(settings.players)] if int(settings.players) in humans else []


def _taught_action(action: dict[str, Any]) -> dict[str, Any]:
    """The command's action with the untaught arguments absent: no target unit (-1), the first cell, not queued
    unless recorded so."""
    return {
        "action_type": int(action["action_type"]),
        "selected_units": np.asarray(action["selected_units"], dtype=np.int64),
        "target_unit": -1,
        "target_location": (0, 0),
        "queued": int(action["queued"]) if int(action["queued"]) in (0, 1) else 0,
    }


def sc2_replay_result(path: str, settings: BuildSettings) -> ReplayResult:
    """Read one .SC2Replay into sequences; problems end up in ``skipped`` (kind: detail), never raised."""
    from envs.sc2.extra import MissingExtraError
    from envs.sc2.spec import sc2_spec
    from envs.sc2replay import ReplayReadError, read_replay
    from envs.sc2replay.sample import MISSING_COLUMNS

    result = ReplayResult(path)
    try:
        spec = sc2_spec(max_units=settings.max_units, resolution=settings.resolution)
        replay = read_replay(path, max_units=settings.max_units, resolution=spec.location_resolution,
                             map_size=spec.map_size)  # fmt: skip
    except ReplayReadError as error:
        result.skipped = error.problem  # "<kind>: <detail>" (corrupt, truncated, unsupported build, ...)
        return result
    except MissingExtraError as error:
        result.skipped = f"missing extra: {error}"
        return result
    # what a replay cannot tell, so the agent built from this spec reads none of it (``AgentSpec.unknown_columns``)
    result.spec = dataclasses.replace(spec, unknown=(*MISSING_COLUMNS, "available_actions")).to_dict()
    players = _players(settings, replay)
    if not players:
        result.skipped = f"no players: players={settings.players} matches none of the humans {sorted(replay.samples)}"
        return result
    rules = ActionRules(result.spec, settings.idle_producers)
    parts = []
    for player in players:
        mapped = []
        for command in replay.samples[player]:
            if command.action_type is None:
                result.stats["dropped: unmapped ability"] += 1
            else:
                mapped.append(command)
        checked = rules.teachable([c.obs for c in mapped], [_taught_action(c.action) for c in mapped], TAUGHT)
        samples = []
        for command, (action, problem) in zip(mapped, checked, strict=True):
            if problem is not None:
                result.stats[f"dropped: {problem}"] += 1
            else:
                samples.append(Sample(command.obs, rules.step([action], ended=False), HEAD_MASK))
        if samples:
            part = to_sequences(samples, settings.sequence_length)
            part["player"] = np.full(len(part["valid"]), player, dtype=np.int8)
            parts.append(part)
            result.stats["samples"] += len(samples)
    if not parts:
        result.skipped = "empty: no usable command samples for the chosen players"
        return result
    result.arrays = concatenate(parts)
    info = replay.info
    result.info = {
        "path": path,
        "scenario": info.map_name,
        "winner": next((p.id for p in info.players if p.result == "Win"), None),
        "players": {str(p.id): f"{p.name} ({p.race}, {'human' if p.is_human else 'AI'})" for p in info.players},
        "steps": int(info.game_loops),
        "samples": int(result.stats["samples"]),
        "sequences": len(result.arrays["valid"]),
        "build": info.build,
        "release": info.release,
    }
    return result
