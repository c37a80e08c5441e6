"""``pstar bench rl``'s rollout verdicts: the in-process frames/s target and the Ray scaling ratios."""

from types import SimpleNamespace

from benchmarks.rl import TARGET_IN_PROCESS, TARGET_TWO_ACTORS, verdicts


def rollouts(in_process: float, one: float, two: float) -> list[SimpleNamespace]:
    return [SimpleNamespace(setup="in-process", workers=1, frames_per_s=in_process),
            SimpleNamespace(setup="ray x1", workers=1, frames_per_s=one),
            SimpleNamespace(setup="ray x2", workers=2, frames_per_s=two)]  # fmt: skip


def test_each_target_fails_alone():
    fast = rollouts(TARGET_IN_PROCESS, TARGET_IN_PROCESS, TARGET_TWO_ACTORS * TARGET_IN_PROCESS)
    fine = {text: ok for text, _, _, ok in verdicts(fast)}
    assert fine == {"in-process rollout, frames/s": True, "1 Ray actor vs in-process": True,
                    "2 Ray actors vs 1 Ray actor": True}  # fmt: skip
    slow = {text: ok for text, _, _, ok in verdicts(rollouts(TARGET_IN_PROCESS - 1, 1400, 1400 * 1.79))}
    assert slow == {"in-process rollout, frames/s": False, "1 Ray actor vs in-process": True,
                    "2 Ray actors vs 1 Ray actor": False}  # fmt: skip
