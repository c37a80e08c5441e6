"""The learner's precision and device: bf16 autocast keeps the loss and gradients near fp32, every update is timed
by phase, a cuda learner asked for on a machine without CUDA fails with one clear error (before a run folder is
made), and on a CUDA machine the GPU learner gives the CPU learner's loss and hands CPU weights to the actors."""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from training.config_io import ConfigError, load_config, to_dict
from training.rl.actor import RolloutWorker
from training.rl.config import RLConfig
from training.rl.learner import Learner, batch_trajectories, learner_device
from training.rl.train import initial_agents, train_rl

TINY = ["envs_per_actor=3", "unroll_length=12", "scenarios=[8m]", "opponents.levels=[easy]", "agent.preset=small",
        "learner_threads=1", "temperature=1.5"]  # fmt: skip
BF16_LOSS_RTOL = 0.03  # loss terms: relative to the term, or to 1 for terms near 0
# gradients, |g_bf16 - g_fp32| / |g_fp32| per part of the agent (measured: ~0.15 in the encoder computed in bf16,
# <= 0.015 elsewhere), and the cosine of the whole gradients
BF16_GRAD_RTOL = {"featurizer": 0.3, "entity_encoder": 0.3, "else": 0.03}
BF16_GRAD_COSINE = 0.99


@pytest.fixture(autouse=True)
def _small_ops(one_thread):
    """Every test here runs small batches."""


def _setup(tmp_path, *extra: str):
    """A learner's config, an agent with a different KL reference, and one trajectory of the agent's."""
    cfg = load_config(RLConfig, None, [*TINY, f"run_root={tmp_path}", *extra])
    torch.manual_seed(0)
    agent, _ = initial_agents(cfg)
    reference, _ = initial_agents(cfg)  # other weights: the KL term is not 0
    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed=5)
    trajectory = worker.rollout({k: v.numpy() for k, v in agent.state_dict().items()}, 0)["trajectory"]
    return cfg, agent, reference, trajectory


def _loss_and_grads(learner: Learner, trajectory) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """The loss terms, and the gradient of the loss flattened per top-level part of the agent."""
    total, terms = learner.loss(batch_trajectories([trajectory], learner.device))
    names, params = zip(*learner.agent.named_parameters(), strict=True)
    grads = torch.autograd.grad(total, list(params), allow_unused=True)
    parts: dict[str, list[torch.Tensor]] = {}
    for name, g, p in zip(names, grads, params, strict=True):
        parts.setdefault(name.split(".")[0], []).append((g if g is not None else torch.zeros_like(p)).flatten())
    return terms, {part: torch.cat(gs).float().cpu() for part, gs in parts.items()}


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm().clamp(min=1e-12))


def test_bf16_autocast_keeps_the_loss_and_gradients_near_fp32(tmp_path):
    cfg, agent, reference, trajectory = _setup(tmp_path)
    fp32 = Learner(copy.deepcopy(agent), copy.deepcopy(reference), cfg.learner)
    bf16 = Learner(copy.deepcopy(agent), copy.deepcopy(reference), dataclasses.replace(cfg.learner, precision="bf16"))
    terms32, grads32 = _loss_and_grads(fp32, trajectory)
    terms16, grads16 = _loss_and_grads(bf16, trajectory)
    assert terms32["kl"] > 1e-3
    for name in ("policy", "value", "entropy", "kl", "total"):
        scale = max(abs(terms32[name]), 1.0)
        assert abs(terms16[name] - terms32[name]) <= BF16_LOSS_RTOL * scale, (name, terms16[name], terms32[name])
    for part in grads32:
        assert _relative(grads16[part], grads32[part]) <= BF16_GRAD_RTOL.get(part, BF16_GRAD_RTOL["else"]), part
    whole16, whole32 = torch.cat(list(grads16.values())), torch.cat(list(grads32.values()))
    assert float(torch.nn.functional.cosine_similarity(whole16, whole32, dim=0)) >= BF16_GRAD_COSINE
    assert _relative(grads16["entity_encoder"], grads32["entity_encoder"]) > 1e-4  # bf16 did run: its rounding shows


def test_an_update_is_timed_by_phase(tmp_path):
    cfg, agent, reference, trajectory = _setup(tmp_path)
    learner = Learner(agent, reference, cfg.learner)
    terms = learner.update([trajectory], step=1)
    phases = learner.phase_seconds
    assert list(phases) == ["batch", "forward", "reference", "losses", "backward", "step", "probe"]
    assert all(v >= 0 for v in phases.values()) and sum(phases.values()) <= terms["seconds"]
    alone = Learner(agent, None, cfg.learner)
    alone.update([trajectory], step=2)
    assert "reference" not in alone.phase_seconds  # no KL term: no reference forward


def test_an_update_split_over_threads_equals_the_whole_batch_update(tmp_path):
    cfg, agent, reference, trajectory = _setup(tmp_path, "learner.upgo_cost=0.5")
    whole = Learner(copy.deepcopy(agent), copy.deepcopy(reference), cfg.learner)
    split = Learner(copy.deepcopy(agent), copy.deepcopy(reference), cfg.learner)
    expected = whole.update([trajectory], step=1)  # one torch thread (the fixture): the whole batch at once
    torch.set_num_threads(2)  # three games: parts of one and two, each in its own thread
    got = split.update([trajectory], step=1)
    assert torch.get_num_threads() == 2  # given back after the parts
    assert list(split.phase_seconds) == list(whole.phase_seconds)
    assert set(got) == set(expected)
    for name, value in expected.items():
        if name != "seconds":
            assert got[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name
    for (name, a), b in zip(whole.agent.named_parameters(), split.agent.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_one_clear_error_before_a_run_folder_is_made(tmp_path):
    with pytest.raises(ConfigError, match="device: cuda requested but CUDA is not available"):
        learner_device("cuda")
    assert learner_device("auto") == torch.device("cpu") == learner_device("cpu")
    cfg = load_config(RLConfig, None, [*TINY, f"run_root={tmp_path}", "device=cuda", "backend=inprocess",
                                       "name=gpu"])  # fmt: skip
    with pytest.raises(ConfigError, match="device: cuda requested but CUDA is not available"):
        train_rl(cfg, progress=False)
    assert not (tmp_path / "gpu").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_cuda_learner_matches_the_cpu_learner_and_sends_cpu_weights(tmp_path):
    cfg, agent, reference, trajectory = _setup(tmp_path)
    cpu = Learner(copy.deepcopy(agent), copy.deepcopy(reference), cfg.learner, "cpu")
    gpu = Learner(copy.deepcopy(agent), copy.deepcopy(reference), cfg.learner, "cuda")
    assert next(gpu.agent.parameters()).is_cuda
    terms_cpu, grads_cpu = _loss_and_grads(cpu, trajectory)
    terms_gpu, grads_gpu = _loss_and_grads(gpu, trajectory)
    for name in ("policy", "value", "entropy", "kl", "total"):
        assert terms_gpu[name] == pytest.approx(terms_cpu[name], rel=5e-3, abs=1e-4), name  # cuDNN convs use TF32
    for part in grads_cpu:
        assert _relative(grads_gpu[part], grads_cpu[part]) <= 1e-2, part
    gpu.update([trajectory], step=1)
    weights = gpu.weights()
    assert all(isinstance(v, np.ndarray) for v in weights.values())
    worker = RolloutWorker(0, agent.checkpoint_config(), to_dict(cfg), seed=1)
    assert worker.rollout(weights, 1)["frames"] == 36  # a CPU actor plays with the GPU learner's weights
