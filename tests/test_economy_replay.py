"""Full-game replays (format version 4): recorded, re-simulated to the same hash, checked on reading; and
``pstar play --full-game`` draws a full game."""

from __future__ import annotations

import json
import struct
import zlib

import pytest
from PIL import Image

from envs.skirmish.economy.bot import FullGameBot, apply_full_game_cheats
from envs.skirmish.economy.match import FullMatch
from envs.skirmish.replay import ReplayError, encode_action, load_replay, save_replay


def recorded_game(steps: int) -> FullMatch:
    match = FullMatch("duel", ("zerg", "protoss"), seed=6, record=True)
    apply_full_game_cheats(match, {1: "medium", 2: "cheat_money"})
    bots = {1: FullGameBot("medium", match.game, 1, 1), 2: FullGameBot("cheat_money", match.game, 2, 2)}
    for _ in range(steps):
        match.step({p: bots[p].act(match.observed[p], match.spec) for p in (1, 2)})
    return match


def test_a_full_game_replay_re_simulates_to_the_recorded_hash(tmp_path):
    match = recorded_game(300)
    path = save_replay(tmp_path / "full.skreplay", match, {1: "bot:medium", 2: "bot:cheat_money"})
    replay = load_replay(path)
    header = replay.header
    assert header.full_game == {"map": "duel", "races": ["zerg", "protoss"], "income": [1.0, 1.4]}
    assert header.winner is None and header.steps == 300 and header.format_version == 4
    types = match.spec.action_types
    seen = 0
    for step, logged in zip(replay.steps(), match.actions_log, strict=True):  # the hash is checked at the end
        for p in (1, 2):
            assert [encode_action(a, types) for a in step.actions[p]] == [encode_action(a, types) for a in logged[p]]
            seen += len(logged[p])
    assert seen > 20 and any(a["action_type"] >= 7 for s in match.actions_log for a in s[2])  # economy actions


def _rewrite_header(path, change) -> None:
    blob = path.read_bytes()
    magic, version, reserved, header_size, _, body_size, body_crc = struct.unpack_from("<8sHHIIII", blob)
    header = json.loads(zlib.decompress(blob[28 : 28 + header_size]))
    change(header)
    packed = zlib.compress(json.dumps(header).encode())
    prefix = struct.pack("<8sHHIIII", magic, version, reserved, len(packed), zlib.crc32(packed), body_size, body_crc)
    path.write_bytes(prefix + packed + blob[28 + header_size :])


@pytest.mark.parametrize(("change", "problem"), [
    (lambda h: h["full_game"].update(map="atlantis"), "not a shipped map"),
    (lambda h: h["full_game"].update(races=["terran", "elves"]), "full_game races"),
    (lambda h: h["full_game"].update(income=[1.0, 0]), "full_game income"),
    (lambda h: h.update(final_hash="0" * 64), "desync: final state hash"),
])  # fmt: skip
def test_a_bad_full_game_header_is_one_clear_error(tmp_path, change, problem):
    match = recorded_game(20)
    path = save_replay(tmp_path / "full.skreplay", match, {1: "bot:medium", 2: "bot:cheat_money"})
    _rewrite_header(path, change)
    with pytest.raises(ReplayError, match=problem):
        load_replay(path).verify()


def test_pstar_play_draws_a_full_game(tmp_path, capsys):
    from training.cli import main as pstar

    out, replay = tmp_path / "full.gif", tmp_path / "full.skreplay"
    assert pstar(["play", "--full-game", "duel", "--races", "terran", "zerg", "--p1", "medium", "--p2", "very_easy",
                  "--every", "100", "--size", "96", "96", "--out", str(out), "--save-replay", str(replay)]) == 0
    printed = capsys.readouterr().out
    assert "full game on duel, terran vs zerg: bot:medium vs bot:very_easy: player 1 wins" in printed
    frames = Image.open(out).n_frames
    assert frames >= 5
    assert load_replay(replay).header.winner == 1


@pytest.mark.slow
def test_record_full_plays_a_batch_of_games_as_if_each_were_alone(tmp_path):
    """``pstar replays record-full --batch 3``: three games at once in one worker's batched engine give the replays
    (winners, steps, final hashes) that one game at a time gives."""
    from training.cli import main as pstar

    headers = {}
    for batch in (1, 3):
        out = tmp_path / f"batch{batch}"
        assert pstar(["replays", "record-full", "--quiet", "--games", "3", "--p1", "cheat_insane", "--p2", "very_easy",
                      "--seed", "11", "--workers", "1", "--batch", str(batch), "--out", str(out)]) == 0  # fmt: skip
        headers[batch] = [(p.name, load_replay(p).header) for p in sorted(out.glob("*.skreplay"))]
    assert len(headers[3]) == 3
    for (name1, one), (name3, three) in zip(headers[1], headers[3], strict=True):
        assert name1 == name3 and one.winner == three.winner == 1
        assert (one.steps, one.final_hash) == (three.steps, three.final_hash)
