"""The assembled agent, both entity encoders through one suite: shapes at 1 and 512 units, real Skirmish
observations, padding, permutation equivariance, pointer constraints, act/evaluate agreement, gradients,
recurrent state resets, checkpoint round trip, presets and the parameter/FLOP report; acting that skips unused work
(trailing padding, heads and sub-actions no row uses) against the every-row path, and whole sampled actions as
frequent as their log-probs."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from agents.agent import Agent, without_trailing_padding
from agents.config import AgentConfig, CoreConfig
from agents.heads import HEADS
from agents.heads.distributions import recording
from agents.inputs import AgentInputError
from agents.report import PARTS, format_report, full_observation, model_report
from envs.skirmish.match import Match
from envs.skirmish.spec import skirmish_spec
from training.policy import unstack_actions

SPEC = skirmish_spec((32, 32), max_units=512).to_dict()
COL = {name: i for i, name in enumerate(SPEC["unit_columns"])}
NUM_TYPES = len(SPEC["action_types"])
KINDS = ("perceiver", "transformer")


def make_agent(kind: str, seed: int = 0, **core) -> Agent:
    torch.manual_seed(seed)
    config = AgentConfig.small(kind)
    if core:
        config.core = CoreConfig(**{**config.core.__dict__, **core})
    return Agent(SPEC, config).eval()


def random_obs(batch: int, n: int, seed: int = 0, all_available: bool = False) -> dict[str, torch.Tensor]:
    """Spec-shaped random observations: row 0 is always a real own unit; about a third of the rows are padding."""
    g = torch.Generator().manual_seed(seed)
    units = torch.rand(batch, n, len(SPEC["unit_columns"]), generator=g) * 50
    ids = torch.tensor(SPEC["unit_type_ids"], dtype=torch.float32)
    units[..., COL["unit_type"]] = ids[torch.randint(len(ids), (batch, n), generator=g)]
    units[..., COL["alliance"]] = torch.tensor([1.0, 1, 4, 4, 3, 2])[torch.randint(6, (batch, n), generator=g)]
    units[..., COL["x"]] = torch.rand(batch, n, generator=g) * 32
    units[..., COL["y"]] = torch.rand(batch, n, generator=g) * 32
    units[:, 0, COL["alliance"]] = 1.0
    mask = torch.rand(batch, n, generator=g) < 0.7
    mask[:, 0] = True
    available = torch.ones(batch, NUM_TYPES, dtype=torch.bool)
    if not all_available:
        available = torch.rand(batch, NUM_TYPES, generator=g) < 0.6
        available[:, 0] = True  # no_op
    return {
        "units": units,
        "unit_mask": mask,
        "scalars": torch.rand(batch, len(SPEC["scalars"]), generator=g) * 100,
        "available_actions": available,
    }


def sample(agent: Agent, obs: dict, seed: int = 0, state: dict | None = None, **kwargs):
    state = agent.initial_state(obs["units"].shape[0]) if state is None else state
    return agent.act(obs, state, generator=torch.Generator().manual_seed(seed), **kwargs)


def as_step(action: dict, actions_per_step: int) -> dict:
    """One action per row [B, ...] -> a step of actions [B, N, ...]: that action, then no_op padding."""
    padding = {"action_type": 0, "selected_units": -1, "target_unit": -1, "target_location": 0, "queued": 0}
    return {
        key: torch.cat([value[:, None], torch.full_like(value[:, None], padding[key]).repeat_interleave(
            actions_per_step - 1, 1)], 1)
        for key, value in action.items()
    }  # fmt: skip


def assert_valid_actions(agent: Agent, obs: dict, action: dict) -> None:
    """The contract's shapes, the end rule (nothing after a no_op) and, per sub-action, the pointer constraints:
    own real units, never twice, at least one when used."""
    batch, steps = obs["units"].shape[0], agent.spec.actions_per_step
    own = obs["unit_mask"] & (obs["units"][..., COL["alliance"]] == 1)
    assert action["action_type"].shape == action["target_unit"].shape == action["queued"].shape == (batch, steps)
    assert action["selected_units"].shape == (batch, steps, SPEC["max_selected_units"])
    assert action["target_location"].shape == (batch, steps, 2)
    table = agent.heads.table
    for b in range(batch):
        for k in range(steps):
            kind = action["action_type"][b, k : k + 1]
            if k and action["action_type"][b, k - 1] == 0:
                assert kind == 0  # the step ended
            assert obs["available_actions"][b, kind] or (k and kind == 0)
            row = action["selected_units"][b, k]
            count = int((row >= 0).sum())
            assert (row[:count] >= 0).all() and (row[count:] == -1).all()
            if table.used(kind, "selected_units"):
                chosen = row[:count].tolist()
                assert count >= 1 and len(set(chosen)) == count and all(own[b, i] for i in chosen)
            else:
                assert count == 0
            target = int(action["target_unit"][b, k])
            assert (target >= 0 and obs["unit_mask"][b, target]) if table.used(kind, "target_unit") else target == -1


def last_types(action: dict) -> torch.Tensor:
    """Each row's last action type that is not a no_op (no_op when none)."""
    kinds = action["action_type"]
    count = (kinds != 0).sum(1)
    return torch.where(count > 0, kinds.gather(1, (count - 1).clamp(min=0)[:, None])[:, 0], 0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("num_units", [1, 512])
def test_runs_on_spec_shaped_observations(kind, num_units):
    agent = make_agent(kind)
    obs = random_obs(2, num_units, seed=num_units)
    with torch.no_grad():
        out = sample(agent, obs)
        scored = agent.evaluate(obs, out.action, agent.initial_state(2))
    assert_valid_actions(agent, obs, out.action)
    assert out.log_prob.shape == (2,) and torch.isfinite(out.log_prob).all() and out.value.shape == (2,)
    torch.testing.assert_close(sum(scored.log_probs.values()), out.log_prob)
    assert torch.equal(out.state["previous_action_type"], last_types(out.action))


@pytest.mark.parametrize("kind", KINDS)
def test_pointer_constraints_hold_under_sampling(kind):
    agent = make_agent(kind)
    obs = random_obs(8, 24, seed=1)
    with torch.no_grad():
        for seed in range(15):
            assert_valid_actions(agent, obs, sample(agent, obs, seed, temperature=3.0).action)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("greedy", [False, True])
def test_evaluate_of_act_gives_the_same_log_probs(kind, greedy):
    agent = make_agent(kind)
    obs = random_obs(16, 20, seed=2)
    state = agent.initial_state(16)
    with torch.no_grad():
        out = agent.act(obs, state, greedy=greedy, temperature=0.8, generator=torch.Generator().manual_seed(0))
        scored = agent.evaluate(obs, out.action, state, temperature=0.8)
    torch.testing.assert_close(torch.stack(list(scored.log_probs.values())).sum(0), out.log_prob)
    torch.testing.assert_close(scored.value, out.value)
    assert set(scored.log_probs) == set(scored.entropy) == set(HEADS)
    for key in ("core_h", "core_c", "previous_action_type"):
        assert torch.equal(scored.state[key], out.state[key])


@pytest.mark.parametrize("kind", KINDS)
def test_padding_rows_never_change_outputs(kind):
    agent = make_agent(kind)
    obs = random_obs(4, 16, seed=3)
    padded = {
        **obs,
        "units": torch.cat([obs["units"], torch.rand(4, 7, obs["units"].shape[-1]) * 99], dim=1),
        "unit_mask": torch.cat([obs["unit_mask"], torch.zeros(4, 7, dtype=torch.bool)], dim=1),
    }
    padded["units"][:, :16][~obs["unit_mask"]] = float("nan")  # garbage in the original padding rows too
    state = agent.initial_state(4)
    with torch.no_grad():
        greedy = agent.act(obs, state, greedy=True)
        greedy_padded = agent.act(padded, state, greedy=True)
        action = sample(agent, obs, 5).action
        scored, scored_padded = agent.evaluate(obs, action, state), agent.evaluate(padded, action, state)
    for key in HEADS:
        assert torch.equal(greedy.action[key], greedy_padded.action[key])
        torch.testing.assert_close(scored.log_probs[key], scored_padded.log_probs[key])
    torch.testing.assert_close(greedy.value, greedy_padded.value)


@pytest.mark.parametrize("kind", KINDS)
def test_outputs_equivariant_to_permuting_units(kind):
    agent = make_agent(kind)
    obs = random_obs(4, 20, seed=4)
    perm = torch.randperm(20, generator=torch.Generator().manual_seed(0))
    inverse = torch.argsort(perm)  # unit row i moves to row inverse[i]
    permuted = {**obs, "units": obs["units"][:, perm], "unit_mask": obs["unit_mask"][:, perm]}

    def move(rows: torch.Tensor) -> torch.Tensor:
        return torch.where(rows >= 0, inverse[rows.clamp(min=0)], rows)

    state = agent.initial_state(4)
    with torch.no_grad():
        greedy, greedy_permuted = agent.act(obs, state, greedy=True), agent.act(permuted, state, greedy=True)
        action = sample(agent, obs, 7, temperature=2.0).action
        moved = {**action, "selected_units": move(action["selected_units"]), "target_unit": move(action["target_unit"])}
        scored, scored_permuted = agent.evaluate(obs, action, state), agent.evaluate(permuted, moved, state)
    torch.testing.assert_close(greedy.value, greedy_permuted.value, atol=1e-5, rtol=1e-5)
    assert torch.equal(move(greedy.action["selected_units"]), greedy_permuted.action["selected_units"])
    assert torch.equal(move(greedy.action["target_unit"]), greedy_permuted.action["target_unit"])
    for key in HEADS:
        torch.testing.assert_close(scored.log_probs[key], scored_permuted.log_probs[key], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("core", [True, False])
def test_gradients_reach_every_parameter(kind, core):
    agent = make_agent(kind, enabled=core).train()
    batch = 2 * NUM_TYPES
    obs = random_obs(batch, 12, seed=5, all_available=True)
    forced = {**obs, "available_actions": torch.eye(NUM_TYPES, dtype=torch.bool).repeat(2, 1)}
    state = agent.initial_state(batch)
    loss = torch.zeros(())
    for step in range(2):  # two steps, so the LSTM's recurrent weights see a nonzero state
        action = sample(agent, forced, step, state).action  # every action type, so every argument head, is used
        scored = agent.evaluate(obs, action, state)
        loss = loss + sum(scored.log_probs.values()).sum() + sum(scored.entropy.values()).sum() + scored.value.sum()
        state = scored.state
    loss.backward()
    # the location map's last bias adds the same to every cell's logit: its true gradient is 0 (softmax is shift
    # invariant), so it may get exactly 0
    shift = f"heads.target_location.upsample.{len(agent.heads.target_location.upsample) - 1}.bias"
    for name, p in agent.named_parameters():
        assert p.grad is not None and (p.grad.abs().sum() > 0 or name == shift), name


@pytest.mark.parametrize("kind", KINDS)
def test_state_is_carried_and_reset_at_episode_starts(kind):
    agent = make_agent(kind)
    obs = random_obs(2, 10, seed=6)
    fresh = agent.initial_state(2)
    with torch.no_grad():
        first = agent.act(obs, fresh, greedy=True)
        assert first.state["core_h"].shape == (2, 1, 64) and first.state["core_h"].abs().sum() > 0
        carried = agent.evaluate(obs, first.action, first.state)
        reset = agent.evaluate(obs, first.action, first.state, first=torch.tensor([True, False]))
        again = agent.evaluate(obs, first.action, fresh)
    assert not torch.allclose(carried.value, again.value)
    torch.testing.assert_close(reset.value[0], again.value[0])
    torch.testing.assert_close(reset.value[1], carried.value[1])
    for key in HEADS:
        torch.testing.assert_close(reset.log_probs[key][0], again.log_probs[key][0])
        torch.testing.assert_close(reset.log_probs[key][1], carried.log_probs[key][1])
    torch.testing.assert_close(reset.state["core_h"][0], again.state["core_h"][0])

    memoryless = make_agent(kind, enabled=False)
    state = memoryless.initial_state(2)
    assert state["core_h"].shape == (2, 0, 64)
    with torch.no_grad():
        out = memoryless.act(obs, state, greedy=True)
    assert out.state["core_h"].shape == (2, 0, 64)


@pytest.mark.parametrize("kind", KINDS)
def test_checkpoint_round_trip_through_safetensors(kind, tmp_path):
    agent = make_agent(kind, seed=1)
    (tmp_path / "config.json").write_text(json.dumps(agent.checkpoint_config()))
    save_file(agent.state_dict(), str(tmp_path / "model.safetensors"))
    restored = Agent.from_checkpoint(
        json.loads((tmp_path / "config.json").read_text()), load_file(str(tmp_path / "model.safetensors"))
    ).eval()
    assert restored.config == agent.config
    obs = random_obs(3, 14, seed=7)
    state = agent.initial_state(3)
    with torch.no_grad():
        a, b = sample(agent, obs, 3), sample(restored, obs, 3)
        scored_a, scored_b = agent.evaluate(obs, a.action, state), restored.evaluate(obs, a.action, state)
    assert all(torch.equal(a.action[k], b.action[k]) for k in HEADS)
    assert torch.equal(a.log_prob, b.log_prob) and torch.equal(a.value, b.value)
    assert all(torch.equal(scored_a.log_probs[k], scored_b.log_probs[k]) for k in HEADS)


@pytest.mark.parametrize("kind", KINDS)
def test_plays_real_skirmish_observations(kind):
    match = Match("3m", seed=0, max_units=16, lenient=True)
    agent = Agent(match.spec, AgentConfig.small(kind)).eval()
    obs = match.reset()[1]
    state = agent.initial_state(1)
    generator = torch.Generator().manual_seed(0)
    for step in range(5):
        batch = {key: torch.as_tensor(value)[None] for key, value in obs.items()}
        with torch.no_grad():
            out = agent.act(batch, state, first=torch.tensor([step == 0]), generator=generator)
        assert_valid_actions(agent, batch, out.action)
        observations, _, done, _, _ = match.step({1: unstack_actions(out.action, agent.spec.no_op)[0]})
        obs, state = observations[1], out.state
        if done:
            break
    assert isinstance(obs["units"], np.ndarray)


@pytest.mark.parametrize("kind", KINDS)
def test_alphastar_preset_builds_and_runs(kind):
    config = AgentConfig.alphastar(kind)
    with torch.device("meta"):
        meta = Agent(SPEC, config)
    assert meta.core.config.hidden == 384 and len(meta.core.layers) == 3
    assert meta.heads.selected_units.lstm.hidden_size == 32 and meta.entity_encoder.unit_dim == 256
    assert AgentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    agent = Agent(SPEC, config).eval()
    obs = random_obs(1, 16, seed=8)
    with torch.no_grad():
        out = sample(agent, obs)
    assert_valid_actions(agent, obs, out.action)
    assert sum(p.numel() for p in meta.parameters()) == sum(p.numel() for p in agent.parameters())


def test_model_report_counts_parameters_and_flops():
    obs = random_obs(1, 512, seed=9)
    obs["unit_mask"][:] = True
    assert SPEC["actions_per_step"] == 2  # two actions per step: the carry between them is a part
    rows = {kind: model_report(make_agent(kind), obs) for kind in KINDS}
    for kind, report in rows.items():
        assert [r.module for r in report] == [*PARTS, "total"]
        total = report[-1]
        assert (
            sum(r.parameters for r in report[:-1])
            == total.parameters
            == sum(p.numel() for p in make_agent(kind).parameters())
        )
        assert sum(r.flops for r in report[:-1]) <= total.flops and all(r.flops > 0 for r in report[1:-1])
        assert "| entity_encoder |" in format_report(report)
    encoder = {kind: next(r.flops for r in report if r.module == "entity_encoder") for kind, report in rows.items()}
    assert encoder["transformer"] > 3.5 * encoder["perceiver"]  # SDPA included: attention is quadratic at 512 units


@pytest.mark.parametrize("kind", KINDS)
def test_a_map_smaller_than_one_cell_leaves_no_type_that_needs_a_location(kind):
    # act raised "target_location: a row that uses this argument has nothing it may choose"
    agent = make_agent(kind)
    obs = random_obs(4, 9, seed=4, all_available=True)
    obs["scalars"][0, SPEC["scalars"].index("map_width")] = 0.05  # under the first cell centre (0.25)
    uses_location = [i for i, t in enumerate(SPEC["action_types"]) if "target_location" in t["arguments"]]
    assert uses_location
    for seed in range(10):  # without the mask, seeds 6, 7 and 9 pick a location type and raise
        types = sample(agent, obs, seed=seed).action["action_type"][0]
        assert not set(types.tolist()) & set(uses_location)


@pytest.mark.parametrize("max_units", [8, 32, 128])
def test_the_report_runs_a_full_step_at_any_number_of_rows(max_units):
    # the report's observation used random map-size scalars, so at some sizes no cell was on the map
    spec = skirmish_spec((32, 32), max_units=max_units).to_dict()
    agent = Agent(spec, AgentConfig.small("perceiver")).eval()
    obs = full_observation(agent.spec)
    assert {"map_width", "map_height"} <= set(spec["scalars"])
    rows = model_report(agent, obs)
    assert rows[-1].flops > 0


@pytest.mark.parametrize("kind", KINDS)
def test_the_previous_target_is_tracked_by_tag_and_marked_was_targeted(kind):
    agent = make_agent(kind)
    obs = random_obs(2, 8, seed=3, all_available=True)
    obs["units"][..., COL["tag"]] = torch.arange(16, dtype=torch.float32).view(2, 8) + 100
    attack_unit = next(t["index"] for t in SPEC["action_types"] if t["name"] == "attack_unit")
    move = next(t["index"] for t in SPEC["action_types"] if t["name"] == "move")
    real = obs["unit_mask"].nonzero()
    target = torch.stack([real[real[:, 0] == b, 1][-1] for b in range(2)])
    marine = next(u["sc2_id"] for u in SPEC["unit_types"] if u["name"] == "marine")
    obs["units"][:, 0, COL["unit_type"]] = marine  # an own unit that can attack the (enemy, ground) target
    obs["units"][torch.arange(2), target, COL["unit_type"]] = marine
    obs["units"][torch.arange(2), target, COL["alliance"]] = 4.0
    action = {
        "action_type": torch.tensor([attack_unit, move]),
        "selected_units": torch.full((2, 64), -1).index_fill(1, torch.tensor([0]), 0),
        "target_unit": target,  # row 1 uses move: its target_unit is ignored
        "target_location": torch.zeros(2, 2, dtype=torch.long),
        "queued": torch.zeros(2, dtype=torch.long),
    }
    with torch.no_grad():
        state = agent.evaluate(obs, as_step(action, agent.spec.actions_per_step), agent.initial_state(2)).state
    expected = obs["units"][0, target[0], COL["tag"]]
    assert state["previous_target_tag"].tolist() == [expected.item(), -1.0]
    # Next step the targeted unit sits in another row: its features change only through was_targeted.
    moved = {k: v.clone() for k, v in obs.items()}
    moved["units"] = obs["units"].roll(1, dims=1)
    moved["unit_mask"] = obs["unit_mask"].roll(1, dims=1)
    marked = moved["unit_mask"] & (moved["units"][..., COL["tag"]] == expected)
    features = agent.featurizer(moved["units"], moved["unit_mask"], marked)
    plain = agent.featurizer(moved["units"], moved["unit_mask"])
    changed = (features != plain).any(-1)
    assert torch.equal(changed, marked)
    with torch.no_grad():
        fresh = agent.act(moved, state, first=torch.tensor([True, True]), greedy=True)
        kept = agent.act(moved, state, greedy=True)
        reset = agent.act(moved, agent.initial_state(2), greedy=True)
    torch.testing.assert_close(fresh.value, reset.value)
    assert not torch.allclose(kept.value[:1], reset.value[:1])


def _bad_inputs():
    """(case, edit of (obs, state), the error's text): each a wrong tensor at act's boundary."""
    n_scalars, core = len(SPEC["scalars"]), "core_h"

    def units_nan(obs, state):
        obs["unit_mask"][1, 3] = True
        obs["units"][1, 3, COL["health"]] = float("nan")

    def units_huge(obs, state):  # finite, but it would overflow inside the model
        obs["unit_mask"][2, 1] = True
        obs["units"][2, 1, COL["radius"]] = 3e38

    return [
        ("nan unit", units_nan, r"obs\['units'\]\[1, 3\] \(row 3, a real unit: unit_mask is True; column 'health'\) "
                                r"is nan; the units of an observation must be finite"),
        ("huge unit", units_huge, r"obs\['units'\]\[2, 1\] \(row 1, a real unit: unit_mask is True; column "
                                  r"'radius'\) is 3.0000000\d+e\+38; the units of an observation must be finite, "
                                  r"\|value\| <= 1e\+19"),
        ("huge scalar", lambda o, s: o["scalars"].__setitem__((1, 0), -1e20),
         rf"obs\['scalars'\]\[1\] \(scalar '{SPEC['scalars'][0]}'\) is -1.0000000\d+e\+20; the scalars"),
        ("inf scalar", lambda o, s: o["scalars"].__setitem__((2, 4), float("inf")),
         rf"obs\['scalars'\]\[2\] \(scalar '{SPEC['scalars'][4]}'\) is inf; the scalars of an observation must be"),
        ("available length", lambda o, s: o.__setitem__("available_actions", o["available_actions"][:, :-1]),
         rf"obs\['available_actions'\] must have shape \[B, {NUM_TYPES}\] \(one per action type\), got "
         rf"\(4, {NUM_TYPES - 1}\)"),
        ("scalars length", lambda o, s: o.__setitem__("scalars", o["scalars"][:, 1:]),
         rf"obs\['scalars'\] must have shape \[B, {n_scalars}\] \(the spec's scalars\), got \(4, {n_scalars - 1}\)"),
        ("unit columns", lambda o, s: o.__setitem__("units", o["units"][..., :-1]),
         r"obs\['units'\] must have shape \[B, units, 46\] \(one column per spec unit column\), got \(4, 9, 45\)"),
        ("mask rows", lambda o, s: o.__setitem__("unit_mask", o["unit_mask"][:, :-1]),
         r"obs\['unit_mask'\] must have shape \[B, units\] like units, got \(4, 8\)"),
        ("integer units", lambda o, s: o.__setitem__("units", o["units"].long()),
         r"obs\['units'\] must be a floating-point tensor \(cast to the agent's torch.float32\), got torch.int64"),
        ("float mask", lambda o, s: o.__setitem__("unit_mask", o["unit_mask"].float()),
         r"obs\['unit_mask'\] must be a bool \(or integer\) tensor, got torch.float32"),
        ("numpy", lambda o, s: o.__setitem__("scalars", o["scalars"].numpy()),
         r"obs\['scalars'\] must be a torch.Tensor, got ndarray \(training.policy.stack_observations"),
        ("missing key", lambda o, s: o.pop("available_actions"),
         r"obs must be a dict with the tensors units, unit_mask, scalars, available_actions, got \['scalars', "),
        ("state batch", lambda o, s: s.__setitem__(core, s[core][:3]),
         r"state\['core_h'\] must have shape \[4, 1, 64\] \(batch, core layers, core hidden\): "
         r"Agent.initial_state\(4\) for a batch of 4, got \(3, 1, 64\)"),
        ("nan state", lambda o, s: s["core_c"].__setitem__((2, 0, 5), float("nan")),
         r"state\['core_c'\] must be finite \(as act, evaluate and Agent.initial_state return it\), got nan at "
         r"\[2, 0, 5\]"),
        ("inf target tag", lambda o, s: s["previous_target_tag"].__setitem__(1, float("inf")),
         r"state\['previous_target_tag'\] must be finite .*, got inf at \[1\]"),
        ("previous type", lambda o, s: s["previous_action_type"].__setitem__(3, NUM_TYPES),
         rf"state\['previous_action_type'\] must be in \[-1, {NUM_TYPES}\) \(-1: none, else an action type\), got "
         rf"{NUM_TYPES} at \[3\]"),
        ("no rows", lambda o, s: [o.__setitem__(k, v[:0]) for k, v in list(o.items())],
         r"obs\['units'\] must have at least one row \(shape \[B, units, 46\]\), got \(0, 9, 46\)"),
        ("state keys", lambda o, s: s.pop("previous_target_tag"), r"state must be the dict Agent.initial_state"),
    ]


@pytest.mark.parametrize(("case", "edit", "text"), _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_act_names_a_bad_input_tensor_and_what_was_expected(case, edit, text):
    agent = make_agent("perceiver")
    obs, state = random_obs(4, 9, seed=1), agent.initial_state(4)
    edit(obs, state)
    with pytest.raises(AgentInputError, match=f"^{text}"):
        sample(agent, obs, state=state)


def test_padding_may_hold_anything_and_float64_observations_are_cast():
    agent = make_agent("transformer")
    obs = random_obs(4, 9, seed=2)
    dirty = {**obs, "units": obs["units"].masked_fill(~obs["unit_mask"][..., None], float("nan")).double(),
             "scalars": obs["scalars"].double()}  # fmt: skip
    clean, cast = sample(agent, obs), sample(agent, dirty)
    for key in HEADS:
        assert torch.equal(clean.action[key], cast.action[key])
    torch.testing.assert_close(clean.value, cast.value)


def test_a_large_finite_state_whose_sum_overflows_is_accepted():
    # the fast check sums the state; the exact one then raised IndexError looking for a non-finite value
    agent = make_agent("perceiver")
    obs, state = random_obs(2, 8, seed=3, all_available=True), agent.initial_state(2)
    state["core_c"][0, 0, :2] = 3e38
    assert sample(agent, obs, state=state).value.shape == (2,)


def test_evaluate_and_sequences_check_actions_state_and_first():
    agent = make_agent("perceiver")
    obs, state = random_obs(4, 9, seed=3), agent.initial_state(4)
    action = sample(agent, obs).action
    with pytest.raises(AgentInputError, match=r"^action\['selected_units'\] must have shape \[4, 2, 64\]"):
        agent.evaluate(obs, {**action, "selected_units": action["selected_units"][:, 0]}, state)
    with pytest.raises(AgentInputError, match=r"^action must have the keys action_type, .*, got \['action_type'"):
        agent.evaluate(obs, {"action_type": action["action_type"]}, state)
    with pytest.raises(AgentInputError, match=r"^first must have shape \[4\] \(one flag per observation\)"):
        agent.act(obs, state, first=torch.ones(3, dtype=torch.bool))
    seq = {k: v[None].expand(3, *v.shape) for k, v in obs.items()}
    seq_action = {k: v[None].expand(3, *v.shape) for k, v in action.items()}
    first = torch.zeros(3, 4, dtype=torch.bool)
    agent.evaluate_sequence(seq, seq_action, state, first)  # well-formed: runs
    with pytest.raises(AgentInputError, match=r"^first must be a \[T, B\] tensor"):
        agent.evaluate_sequence(seq, seq_action, state, first[0])
    with pytest.raises(AgentInputError, match=r"^state\['previous_action_type'\] must have shape \[4\]"):
        agent.evaluate_sequence(seq, seq_action, {**state, "previous_action_type": torch.zeros(3)}, first)
    bad = {**seq, "scalars": seq["scalars"].clone()}
    bad["scalars"][2, 1, 0] = float("nan")
    with pytest.raises(AgentInputError, match=rf"^obs\['scalars'\]\[2, 1\] \(scalar '{SPEC['scalars'][0]}'\) is nan"):
        agent.evaluate_sequence(bad, seq_action, state, first)


def test_evaluate_checks_action_ranges_temperature_shapes_and_empty_sequences():
    agent = make_agent("perceiver")
    obs, state = random_obs(4, 9, seed=3), agent.initial_state(4)
    action = sample(agent, obs).action
    resolution = SPEC["location_resolution"]
    bad = [("action_type", (0, 0), 999, rf"\[-1, {NUM_TYPES}\) \(-1: unknown, else an action type\), got 999 at "
                                        r"\[0, 0\]"),
           ("action_type", (2, 1), -7, rf"\[-1, {NUM_TYPES}\) .*, got -7 at \[2, 1\]"),
           ("selected_units", (1, 0, 3), 9, r"\[-1, 9\) \(-1: none, else a unit row\), got 9 at \[1, 0, 3\]"),
           ("target_unit", (3, 1), -2, r"\[-1, 9\) \(-1: none, else a unit row\), got -2 at \[3, 1\]"),
           ("target_location", (0, 1, 1), resolution, rf"\[-1, {resolution}\) \(a cell \[x, y\] of the "),
           ("queued", (2, 0), 2, r"\[-1, 2\) \(0 or 1, -1: unknown\), got 2 at \[2, 0\]")]  # fmt: skip
    for key, index, value, text in bad:
        edited = {**action, key: action[key].clone()}
        edited[key][index] = value
        with pytest.raises(AgentInputError, match=rf"^action\['{key}'\] must be in {text}"):
            agent.evaluate(obs, edited, state)
    with pytest.raises(AgentInputError, match=r"^given\['action_type'\] must be in \[-1, "):
        sample(agent, obs, given={"action_type": action["action_type"] - 2})
    with pytest.raises(AgentInputError, match=r"^temperature must be a number or a tensor of shape \[4\] \(one per "
                                              r"observation\), got \(5,\)"):  # fmt: skip
        agent.evaluate(obs, action, state, temperature=torch.ones(5))
    seq = {k: v[None].expand(3, *v.shape) for k, v in obs.items()}
    seq_action = {k: v[None].expand(3, *v.shape) for k, v in action.items()}
    first = torch.zeros(3, 4, dtype=torch.bool)
    with pytest.raises(AgentInputError, match=r"^temperature must be a number or a tensor of shape \[3, 4\]"):
        agent.evaluate_sequence(seq, seq_action, state, first, temperature=torch.ones(12))
    scalar = agent.evaluate_sequence(seq, seq_action, state, first, temperature=torch.tensor(2.0))
    rows = agent.evaluate_sequence(seq, seq_action, state, first, temperature=torch.full((3, 4), 2.0))
    for key in HEADS:
        torch.testing.assert_close(scalar.log_probs[key], rows.log_probs[key])
    with pytest.raises(AgentInputError, match=r"^obs\['units'\] must have at least one step and one row"):
        agent.evaluate_sequence({k: v[:0] for k, v in seq.items()}, {k: v[:0] for k, v in seq_action.items()},
                                state, first[:0])  # fmt: skip


def test_trailing_padding_is_dropped_up_to_the_last_real_row_of_any_batch_row():
    mask = torch.zeros(3, 10, dtype=torch.bool)
    mask[0, :2], mask[1, [0, 5]] = True, True  # row 5 is the last real one; row 2's padding in between stays
    obs = {"units": torch.rand(3, 10, 4), "unit_mask": mask, "scalars": torch.rand(3, 2)}
    short = without_trailing_padding(obs)
    assert short["units"].shape == (3, 6, 4) and torch.equal(short["unit_mask"], mask[:, :6])
    assert torch.equal(short["units"], obs["units"][:, :6]) and short["scalars"] is obs["scalars"]
    assert without_trailing_padding({**obs, "unit_mask": torch.zeros_like(mask)})["units"].shape == (3, 1, 4)
    full = {**obs, "unit_mask": torch.ones_like(mask)}
    assert without_trailing_padding(full) is full


@pytest.mark.parametrize("kind", KINDS)
def test_act_gives_the_every_row_path_greedy_actions_log_probs_values_and_state(kind):
    agent = make_agent(kind)
    obs = random_obs(48, 24, seed=11)  # random available types: the greedy type differs between rows
    obs["units"] = torch.cat([obs["units"], torch.rand(48, 9, obs["units"].shape[-1])], 1)  # trailing padding
    obs["unit_mask"] = torch.cat([obs["unit_mask"], torch.zeros(48, 9, dtype=torch.bool)], 1)
    state = agent.initial_state(48)
    with torch.no_grad():
        fast = agent.act(obs, state, greedy=True)
        with recording() as records:
            full = agent.act(obs, state, greedy=True)
    assert {r.name for r in records} == set(HEADS) and all(r.log_p.shape[0] == 48 for r in records)
    assert len(set(fast.action["action_type"][:, 0].tolist())) > 2  # several types, so heads run on subsets
    assert (fast.action["action_type"][:, 1] == 0).any() and (fast.action["action_type"][:, 1] != 0).any()
    for key in HEADS:
        assert torch.equal(fast.action[key], full.action[key]), key
    torch.testing.assert_close(fast.log_prob, full.log_prob)
    torch.testing.assert_close(fast.value, full.value)
    for key, value in full.state.items():
        torch.testing.assert_close(fast.state[key], value)


@pytest.mark.parametrize("kind", KINDS)
def test_sampled_whole_actions_are_as_frequent_as_their_log_probs(kind):
    # One observation in every row: each distinct action (type, selection, target, cell, queued) must come up
    # about exp(log-prob) of the time, with the log-prob as evaluate (teacher forcing) scores it.
    spec = skirmish_spec((32, 32), max_units=5, resolution=4, actions_per_step=1).to_dict()
    torch.manual_seed(1)
    agent = Agent(spec, AgentConfig.small(kind)).eval()
    columns = spec["unit_columns"]
    units = torch.zeros(1, 5, len(columns))
    units[0, :, columns.index("unit_type")] = float(spec["unit_type_ids"][0])
    units[0, :, columns.index("alliance")] = torch.tensor([1.0, 1, 1, 4, 4])
    units[0, :, columns.index("x")] = torch.tensor([3.0, 5, 7, 20, 25])
    units[0, :, columns.index("y")] = torch.tensor([4.0, 9, 6, 21, 18])
    units[0, :, columns.index("health")] = 45.0
    scalars = torch.zeros(1, len(spec["scalars"]))
    scalars[0, spec["scalars"].index("map_width")], scalars[0, spec["scalars"].index("map_height")] = 32.0, 32.0
    draws = 20_000
    one = {"units": units, "unit_mask": torch.ones(1, 5, dtype=torch.bool), "scalars": scalars,
           "available_actions": torch.ones(1, len(spec["action_types"]), dtype=torch.bool)}  # fmt: skip
    obs = {key: value.expand(draws, *value.shape[1:]) for key, value in one.items()}
    with torch.no_grad():
        out = agent.act(obs, agent.initial_state(draws), temperature=2.0, generator=torch.Generator().manual_seed(3))
    keys = [tuple(v) for v in torch.cat([out.action[k].reshape(draws, -1) for k in HEADS], 1).tolist()]
    counts = Counter(keys)
    distinct = list(counts)
    first = [keys.index(k) for k in distinct]
    batch = {key: value[:1].expand(len(first), *value.shape[1:]) for key, value in one.items()}
    action = {key: value[first] for key, value in out.action.items()}
    with torch.no_grad():
        scored = agent.evaluate(batch, action, agent.initial_state(len(first)), temperature=2.0)
    p = torch.stack(list(scored.log_probs.values())).sum(0).double().exp()
    torch.testing.assert_close(scored_log_prob := p.log(), out.log_prob[first].double(), atol=1e-4, rtol=1e-4)
    assert scored_log_prob.numel() > 20 and float(p.sum()) <= 1 + 1e-4  # many distinct actions, each a share
    expected, observed = draws * p, torch.tensor([counts[k] for k in distinct], dtype=torch.float64)
    frequent = expected >= 20
    assert int(frequent.sum()) >= 10
    rest_expected = draws - float(expected[frequent].sum())  # every other action, seen or not, in one bin
    rest_observed = draws - float(observed[frequent].sum())
    chi2 = float(((observed[frequent] - expected[frequent]) ** 2 / expected[frequent]).sum())
    chi2 += (rest_observed - rest_expected) ** 2 / max(rest_expected, 1.0)
    df = int(frequent.sum())
    assert chi2 < df + 7 * (2 * df) ** 0.5, (chi2, df)  # about 5 standard deviations of a chi-square with df
