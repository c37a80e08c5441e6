"""``pstar bench rl``'s verdicts and tables: the in-process frames/s target, the Ray scaling ratios, the learner
target (perceiver agent, default setup) and the encoders' learner comparison."""

from types import SimpleNamespace

from benchmarks.rl import (
    TARGET_IN_PROCESS,
    TARGET_LEARNER,
    TARGET_LEARNER_THREADS,
    TARGET_TWO_ACTORS,
    LearnerResult,
    learner_table,
    learner_verdicts,
    verdicts,
)


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


def learner(encoder: str, kl: bool, threads: int, samples_per_s: float) -> LearnerResult:
    return LearnerResult(encoder=encoder, kl_reference=kl, device="cpu", precision="fp32", threads=threads,
                         samples=2048, updates=3, ms_per_update=2048e3 / samples_per_s, samples_per_s=samples_per_s,
                         cpu_ms_per_update=0.0, other_busy_cores=0.0, ms_samples=[], phase_ms={})  # fmt: skip


def test_learner_target_is_judged_on_the_perceiver_in_the_default_setup_only():
    rows = [learner(kind, kl, threads, rate) for kind, rate in (("perceiver", TARGET_LEARNER - 1), ("transformer", 9e9))
            for kl in (False, True) for threads in (1, TARGET_LEARNER_THREADS)]  # fmt: skip
    checks = learner_verdicts(rows)
    assert [(rate, ok) for _, rate, _, ok in checks] == [(TARGET_LEARNER - 1, False)]
    assert learner_verdicts(rows, default_setup=False) == []


def test_learner_table_compares_encoders_at_equal_settings():
    rows = [learner("perceiver", True, 1, 1000.0), learner("transformer", True, 1, 500.0),
            learner("perceiver", True, 2, 1600.0), learner("transformer", True, 2, 400.0)]  # fmt: skip
    lines = learner_table(rows).splitlines()[2:]
    assert [line.split(" | ")[9] for line in lines] == ["1.00x vs perceiver", "0.50x vs perceiver",
                                                         "1.00x vs perceiver", "0.25x vs perceiver"]  # fmt: skip
    single = learner_table(rows[::2]).splitlines()[2:]
    assert [line.split(" | ")[9] for line in single] == ["1.00x vs cpu fp32 1t", "1.60x vs cpu fp32 1t"]
