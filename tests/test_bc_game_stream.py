"""Game streams (``recurrent_state=carry``): rows read whole games in order, the state flows between batches."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tests.test_bc_trainer import config
from training.bc.dataset import BCData
from training.bc.game_stream import GameStream, schedule
from training.bc.shards import collate
from training.bc.trainer import BCTrainer, Process, train_bc


def test_schedule_reads_every_game_in_order_on_one_row_then_pads():
    lengths = [3, 1, 4, 3]
    plan = list(schedule(lengths, 2, seed=0, reader=0, epochs=1, shuffle=False))
    rows = [[batch[r] for batch in plan] for r in range(2)]
    seen = [slot for row in rows for slot in row if slot is not None]
    assert sorted(seen) == [(g, i) for g, n in enumerate(lengths) for i in range(n)]  # each sequence once
    for row in rows:
        games = [slot for slot in row if slot is not None]
        for (g, i), (h, j) in itertools.pairwise(games):  # a game runs to its end before the row moves on
            assert (h, j) == (g, i + 1) or (i == lengths[g] - 1 and j == 0)
        assert all(slot is None for slot in row[len(games) :])  # padding only after the row's last game
    assert len(plan) == 6 and plan[-1][1] is None


def test_an_endless_schedule_draws_a_new_order_each_epoch():
    plan = schedule([1] * 6, 1, seed=3, reader=0)
    first, second = [next(plan)[0][0] for _ in range(6)], [next(plan)[0][0] for _ in range(6)]
    assert sorted(first) == sorted(second) == list(range(6)) and first != second
    with pytest.raises(ValueError, match="at least one game"):
        next(schedule([], 2, seed=0, reader=0))


@pytest.fixture(scope="module")
def data(replay_dir, tmp_path_factory):
    cfg = config(replay_dir, tmp_path_factory.mktemp("stream"), sequence_length=4, steps=1, val_fraction=0)
    result = train_bc(cfg, progress=False)
    return BCData.open(Path(cfg.cache_dir) / result.data["cache_key"])


def test_each_row_reads_its_games_sequences_in_order(data):
    games = data.games(set(range(len(data.manifest["replays"]))))
    assert len(games) == 3 and all(len(p) > 1 for _, p in games)
    stream = list(GameStream(data.load, games, rows=2, seed=0, epochs=1, shuffle=False))
    plan = [slot for batch in schedule([len(p) for _, p in games], 2, 0, 0, epochs=1, shuffle=False) for slot in batch]
    assert len(stream) == len(plan)
    for item, slot in zip(stream, plan, strict=True):
        if slot is None:  # a row out of games: nothing taught, and a fresh start
            assert not item["valid"].any() and item["first"][0]
            continue
        shard, positions = games[slot[0]]
        expected = data.load(shard)
        assert all(np.array_equal(item[k], expected[k][positions[slot[1]]]) for k in item)
    firsts = [bool(item["first"][0]) for item, slot in zip(stream, plan, strict=True) if slot is not None]
    assert sum(firsts) >= 3  # every game's first sequence restarts the state (each chosen player's, in turn)


def test_a_resumed_stream_skips_to_the_uninterrupted_batches(data):
    games = data.games(set(range(len(data.manifest["replays"]))))

    def run(skip: int, take: int) -> list[dict]:
        stream = GameStream(data.load, games, rows=2, seed=5, skip_batches=skip)
        loader = DataLoader(stream, batch_size=2, collate_fn=collate, num_workers=2)
        return list(itertools.islice(iter(loader), take))

    straight, resumed = run(0, 7), run(3, 4)
    for a, b in zip(straight[3:], resumed, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_carry_training_starts_each_batch_from_the_last_ones_state(replay_dir, tmp_path):
    cfg = config(replay_dir, tmp_path, sequence_length=4, recurrent_state="carry", steps=3, val_fraction=0.34)
    trainer = BCTrainer(cfg, resume=False, progress=False, process=Process())
    batches = iter(trainer.loader())
    trainer.train_step(next(batches))
    assert trainer.last_state is None  # the first batch: the initial state
    carried = trainer.carried[0]
    assert carried is not None and float(carried["core_h"].abs().sum()) > 0
    second = next(batches)
    trainer.train_step(second)
    assert trainer.last_state is carried
    ended = trainer.carried[0]
    restarted = second["first"][0]  # rows that began a new game there start afresh whatever they carried
    assert not torch.equal(ended["core_h"][~restarted], carried["core_h"][~restarted])
    result = train_bc(dataclasses.replace(cfg, name="whole"), progress=False)
    assert result.steps == 3 and 0.0 <= result.metrics["action_type/accuracy"] <= 1.0
    assert result.metrics["action_type/samples"] > 0
