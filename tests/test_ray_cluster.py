"""``pstar rl --address`` on a real two-node Ray cluster on this machine: the actors are placed on the second node by
a custom resource, that node is killed mid-run (its whole process group), and training goes on with the actors
rescheduled on the head; the node's loss is logged and every checkpoint written before and after it loads."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.checkpoint import list_checkpoints, load_checkpoint

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """A ``ray start --block`` in its own process group (so killing the group kills the whole node)."""
    with log.open("w") as out:  # (the child keeps its own copy of the file)
        return subprocess.Popen([str(BIN / "ray"), "start", "--block", "--num-cpus=2",
                                 "--object-store-memory=100000000", *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)  # fmt: skip


def _wait_for(predicate, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1.0)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@pytest.mark.slow
def test_rl_goes_on_when_the_actor_node_of_a_two_node_cluster_is_killed(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = _free_port()
    head_log, node_log, run_log = tmp_path / "head.log", tmp_path / "node.log", tmp_path / "rl.log"
    head = _node(["--head", f"--port={port}", "--include-dashboard=false", "--disable-usage-stats",
                  '--resources={"head": 1}'], head_log, env)  # fmt: skip
    node = run = None
    try:
        _wait_for(lambda: "will now block" in head_log.read_text(), "the head node", 120)
        node = _node([f"--address=127.0.0.1:{port}", '--resources={"actor_node": 2}'], node_log, env)
        _wait_for(lambda: "will now block" in node_log.read_text(), "the second node", 120)
        argv = [str(BIN / "pstar"), "rl", "--address", f"127.0.0.1:{port}", "--no-progress", "--log-level", "info",
                "backend=ray", "num_actors=2", "actor_resources={actor_node: 1}", "envs_per_actor=2",
                "unroll_length=16", "scenarios=[3m]", "opponents.levels=[easy]", "agent.preset=small",
                "learner_threads=1", "total_frames=384", "checkpoint_every=2", "keep_last=0", "actor_timeout_s=45",
                f"run_root={tmp_path}", "name=two_nodes"]  # fmt: skip
        with run_log.open("w") as out:
            run = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        checkpoints = tmp_path / "two_nodes" / "checkpoints"
        _wait_for(lambda: run.poll() is not None or len(list_checkpoints(checkpoints)) >= 2, "two checkpoints", 600)
        assert run.poll() is None, "the run ended before the node could be killed: " + run_log.read_text()[-2000:]
        before = [p.name for p in list_checkpoints(checkpoints)]
        _kill(node)  # the actors' node goes, with every process it started
        assert run.wait(timeout=900) == 0, run_log.read_text()[-4000:]
    finally:
        for process in (run, node, head):
            if process is not None and process is not run:
                _kill(process)
            elif process is not None and process.poll() is None:
                process.kill()
    log = run_log.read_text()
    placed = [line.split()[-1] for line in log.splitlines() if "rollout worker 0 runs on Ray node" in line]
    lost = [line for line in log.splitlines() if "is lost; its rollout workers are replaced" in line]
    assert len(placed) >= 2 and placed[-1] != placed[0] and f"Ray node {placed[0]} " in lost[0]  # moved to the head
    assert "rollout worker 0 is replaced" in log and "goes to any node" in log
    after = [p.name for p in list_checkpoints(checkpoints)]
    assert set(before) <= set(after) and len(after) > len(before)  # nothing lost, more written after the loss
    final = load_checkpoint(checkpoints / after[-1])
    assert final.meta["counters"]["frames"] >= 384 and final.meta["counters"]["worker_restarts"] >= 2
    for name in after:
        load_checkpoint(checkpoints / name)
