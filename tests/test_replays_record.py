"""``pstar replays record`` at scale: workers capped at the CPUs, games planned and submitted lazily (bounded memory
whatever ``--games``), and Ctrl-C keeping the finished files with a one-line summary and exit status 130."""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from envs.skirmish.replay import load_header
from training import replays_cli
from training.replays_cli import build_parser, plan_games, record_games

ROOT = Path(__file__).resolve().parents[1]
RECORD_BATCH = replays_cli.record_batch


def record_args(out: Path, games: int, *extra: str):
    return build_parser().parse_args(["record", "--games", str(games), "--scenarios", "3m", "--p1", "medium",
                                      "--max-units", "16", "--out", str(out), *extra])  # fmt: skip


def test_workers_are_capped_at_the_usable_cpus(tmp_path, monkeypatch, capsys):
    started = []

    class Pool(replays_cli.ProcessPoolExecutor):
        def __init__(self, max_workers, **kwargs):
            started.append(max_workers)
            super().__init__(max_workers, **kwargs)

    monkeypatch.setattr(replays_cli, "usable_cpus", lambda: 2)
    monkeypatch.setattr(replays_cli, "ProcessPoolExecutor", Pool)
    argv = ["record", "--games", "3", "--scenarios", "3m", "--max-units", "16", "--out", str(tmp_path), "--quiet"]
    assert replays_cli.main([*argv, "--workers", "64"]) == 0
    captured = capsys.readouterr()
    assert started == [2] and "replays record: 64 workers capped at 2, the CPUs available" in captured.err
    assert "recorded 3 games" in captured.out and len(list(tmp_path.glob("*.skreplay"))) == 3
    assert replays_cli.main([*argv, "--workers", "2"]) == 0
    assert started == [2, 2] and "capped" not in capsys.readouterr().err


def test_a_million_games_are_planned_in_constant_memory(tmp_path):
    tracemalloc.start()
    try:
        jobs = plan_games(record_args(tmp_path, 1_000_000))
        first = next(jobs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (first.index, first.seed) == (0, 0) and next(jobs).index == 1
    assert peak < 100_000  # a list of a million jobs was ~2.4 GB


def test_games_are_submitted_as_workers_free_up(tmp_path, monkeypatch):
    """Batches are taken from the plan only when at most two per worker are unfinished: by the time job k is asked
    for, at least k - 4 batches' replays (2 workers, batches of 2) are on disk."""
    monkeypatch.setattr(replays_cli, "usable_cpus", lambda: 2)
    seen = []

    def watched(jobs):
        for job in jobs:
            seen.append((job.index, len(list(tmp_path.glob("*.skreplay")))))
            yield job

    tally = record_games(watched(plan_games(record_args(tmp_path, 24))), 2, total=24, progress=False, batch_games=2)
    assert tally.games == 24 and not tally.interrupted
    assert all(index <= written + 4 * 2 + 1 for index, written in seen), seen
    assert max(index - written for index, written in seen) >= 5  # the two workers were kept busy


def test_a_batch_records_each_game_as_played_alone_and_isolates_a_failing_game(tmp_path):
    """Games played together in one batch give the replays ``play_bot_game`` gives each alone; a game that fails
    (here: a scenario file that does not exist) is reported and the others are written."""
    from envs.skirmish.botgame import play_bot_game

    jobs = list(plan_games(record_args(tmp_path, 10, "--p1", "easy", "hard", "--seed", "3", "--mirror")))
    jobs[4] = dataclasses.replace(jobs[4], scenario="missing/nowhere.yaml")
    results = replays_cli.record_batch(jobs)
    assert isinstance(results[4], str) and "nowhere.yaml" in results[4]
    for job, record in zip(jobs, results, strict=True):
        if job.index == 4:
            continue
        alone = play_bot_game(job.scenario, {1: job.p1, 2: job.p2}, job.seed, variant=1 + job.seed % 16,
                              max_units=16)  # fmt: skip
        header = load_header(record.path)
        assert (header.winner, header.steps, header.final_hash) == (alone.winner, alone.steps,
                                                                    alone.engine.state_hash())  # fmt: skip
        assert (record.winner, record.steps, record.game_loops) == (alone.winner, alone.steps, alone.engine.loop)
    assert len(list(tmp_path.glob("*.skreplay"))) == 9


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("workers", "stop"), [(2, "ctrl-c"), (1, "ctrl-c"), (2, "kill")])
def test_ctrl_c_keeps_finished_files_and_says_what_was_written(tmp_path, workers, stop):
    """SIGINT to the whole process group, as a terminal's Ctrl-C, or SIGTERM to the command alone (``kill``): no
    worker tracebacks, whole files only, and no worker left behind."""
    out = tmp_path / "rec"
    command = [sys.executable, "-m", "training.replays_cli", "record", "--games", "100000", "--scenarios", "3m",
               "--max-units", "16", "--workers", str(workers), "--out", str(out), "--quiet"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(list(out.glob("*.skreplay"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        if stop == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
        deadline = time.monotonic() + 10
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_alive(proc.pid), "a worker outlived the command"
    finally:
        if _group_alive(proc.pid):  # the command or a worker it left behind
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    files = sorted(out.glob("*.skreplay"))
    match = re.search(rf"interrupted after [\d.]+ s: (\d+) of 100000 games recorded into {re.escape(str(out))}$",
                      stdout.strip())  # fmt: skip
    # a file renamed into place just as Ctrl-C came may be left out of the count, never the other way round
    assert match and len(files) - 1 <= int(match[1]) <= len(files) and len(files) >= 3, stdout
    assert not [p for p in out.iterdir() if p.suffix != ".skreplay"]  # no half-written temporary files
    for path in files:
        load_header(path)


def _games_during_which_ctrl_c_comes(jobs):
    """A batch during which Ctrl-C comes; a handler that raised could see it swallowed (as in a ``__del__``)."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    return [replays_cli.GameRecord(job, job.out, None, 1, 1, 1, 0.0) for job in jobs]


def test_ctrl_c_lets_the_games_being_played_finish_and_starts_no_other(tmp_path, monkeypatch):
    monkeypatch.setattr(replays_cli, "record_batch", _games_during_which_ctrl_c_comes)
    tally = record_games(plan_games(record_args(tmp_path, 1000)), 1, total=1000, progress=False, batch_games=3)
    assert tally.interrupted and tally.games == 3


def _games_of_which_one_never_ends(jobs):
    """A batch whose first game is written and whose second never ends."""
    RECORD_BATCH(jobs[:1])
    time.sleep(600)


def test_a_second_ctrl_c_stops_the_games_being_played(tmp_path, monkeypatch):
    """The first Ctrl-C lets running games finish; the second terminates the workers at once (none lives on) and
    counts the replays the stopped batches had written (they stay: whole files)."""
    monkeypatch.setattr(replays_cli, "usable_cpus", lambda: 2)
    monkeypatch.setattr(replays_cli, "record_batch", _games_of_which_one_never_ends)

    def press_ctrl_c_twice():
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("*.skreplay"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press_ctrl_c_twice, daemon=True).start()
    start = time.monotonic()
    tally = record_games(plan_games(record_args(tmp_path, 10)), 2, total=10, progress=False, batch_games=2)
    assert tally.interrupted and time.monotonic() - start < 90
    assert tally.games == 2 == len(list(tmp_path.glob("*.skreplay")))  # the first game of each stopped batch
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".skreplay"]  # no half-written temporary files
    assert not replays_cli.multiprocessing.active_children()
