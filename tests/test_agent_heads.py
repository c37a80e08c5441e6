"""Action heads: pointer constraints under sampling, log-prob bookkeeping, teacher forcing, unused arguments,
legality masks (available actions, target rules, what a unit can carry or hit, cells on the map), gradients, and the
inverse-CDF sampler's frequencies."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from agents.heads import (
    ARGUMENTS,
    HEADS,
    ActionHeads,
    ArgumentTable,
    HeadsConfig,
    LocationHead,
    SelectedUnitsHead,
    ValueHead,
)
from agents.heads.distributions import sample_rows
from agents.heads.legality import LegalityRules
from agents.spec import ActionTypeSpec, AgentSpec
from envs.skirmish.spec import skirmish_spec

CORE, UNIT = 24, 20


@pytest.fixture(scope="module")
def spec():
    return AgentSpec.from_dict(skirmish_spec((32, 32), max_units=12, resolution=16))


def hand_spec(max_selected: int) -> AgentSpec:
    """A minimal spec: one action type with a selection, one with a target unit, no unit types."""
    spec = AgentSpec.from_dict(skirmish_spec((32, 32), max_units=12, resolution=4))
    types = (ActionTypeSpec(0, "select", ("selected_units",), "none", "any_unit"),
             ActionTypeSpec(1, "target", ("target_unit", "queued"), "other_unit", "any_unit"))  # fmt: skip
    return replace(spec, action_types=types, unit_types=(), max_selected_units=max_selected)


def unit_type(spec: AgentSpec, name: str) -> float:
    return float(next(u.sc2_id for u in spec.unit_types if u.name == name))


def observation(spec: AgentSpec, size: int, available: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Marines: rows 8.. are padding, own units are rows 0..4 (row 3 is padding), rows 5..7 are enemies."""
    columns = spec.unit_columns
    n = spec.max_units
    units = torch.zeros(size, n, len(columns))
    units[..., columns.index("unit_type")] = unit_type(spec, "marine")
    units[..., columns.index("alliance")] = 4.0
    units[:, :5, columns.index("alliance")] = 1.0
    units[:, 10, columns.index("alliance")] = 1.0  # own but padding: never selectable
    unit_mask = torch.zeros(size, n, dtype=torch.bool)
    unit_mask[:, :8] = True
    unit_mask[:, 3] = False
    scalars = torch.zeros(size, len(spec.scalars))
    scalars[:, spec.scalars.index("map_width")], scalars[:, spec.scalars.index("map_height")] = spec.map_size
    if available is None:
        available = torch.ones(size, spec.num_action_types, dtype=torch.bool)
    return {"units": units, "unit_mask": unit_mask, "scalars": scalars, "available_actions": available}


def batch(spec: AgentSpec, size: int = 6, seed: int = 0, obs: dict | None = None):
    """Random core output and unit embeddings, and the legality of ``obs`` (default: ``observation``)."""
    g = torch.Generator().manual_seed(seed)
    obs = observation(spec, size) if obs is None else obs
    return {
        "core_output": torch.randn(size, CORE, generator=g),
        "unit_embeddings": torch.randn(size, spec.max_units, UNIT, generator=g) * obs["unit_mask"][..., None],
        "legal": LegalityRules(spec).observe(obs),
    }


def test_argument_table_follows_spec(spec):
    table = ArgumentTable(spec)
    for a in spec.action_types:
        for arg in ARGUMENTS:
            assert bool(table.uses[a.index, ARGUMENTS.index(arg)]) == (arg in a.arguments)
    assert table.feature_dim == spec.num_action_types + len(spec.unit_types)
    assert ArgumentTable(hand_spec(3)).feature_dim == 2  # no unit_types in the spec: the action one-hot only


def test_action_types_masked_by_available_actions(spec):
    heads = ActionHeads(spec, CORE, UNIT, HeadsConfig.small())
    available = torch.rand(16, spec.num_action_types, generator=torch.Generator().manual_seed(1)) < 0.4
    available[:, 0] = False
    available[torch.arange(16), torch.arange(16) % spec.num_action_types] = True
    x = batch(spec, size=16, obs=observation(spec, 16, available))
    for seed in range(20):
        out = heads(**x, generator=torch.Generator().manual_seed(seed))
        assert available[torch.arange(16), out.action["action_type"]].all()
    greedy = heads(**x, greedy=True).action["action_type"]
    assert available[torch.arange(16), greedy].all()
    bad = torch.where(available[:, 0], 1, 0)
    with pytest.raises(ValueError, match="action_type"):
        heads(**x, action={"action_type": bad})


def test_selection_constraints_under_sampling(spec):
    heads = ActionHeads(spec, CORE, UNIT, HeadsConfig.small())
    x = batch(spec, size=8)
    selectable = x["legal"].own_mask
    table = heads.table
    for seed in range(30):
        with torch.no_grad():
            out = heads(**x, temperature=3.0, generator=torch.Generator().manual_seed(seed))
        types = out.action["action_type"]
        picks = out.action["selected_units"]
        assert picks.shape == (8, spec.max_selected_units)
        for b in range(8):
            row = picks[b]
            count = int((row >= 0).sum())
            assert (row[count:] == -1).all() and (row[:count] >= 0).all()  # padded at the end with -1
            if not table.used(types[b : b + 1], "selected_units"):
                assert count == 0 and out.log_probs["selected_units"][b] == 0
                continue
            chosen = row[:count].tolist()
            assert count >= 1  # end is not allowed before the first pick
            assert len(set(chosen)) == count  # never twice
            assert all(selectable[b, i] for i in chosen)  # own, real units only
            nonzero = int((out.selection_step_log_probs[b] != 0).sum())
            assert nonzero <= count + 1
        target = out.action["target_unit"]
        uses_target = table.used(types, "target_unit")
        assert (target[~uses_target] == -1).all()
        assert x["legal"].unit_mask[uses_target.nonzero().squeeze(-1), target[uses_target]].all()
        cells = out.action["target_location"]
        assert ((cells >= 0) & (cells < spec.location_resolution)).all()


def test_selection_stops_at_max_and_when_no_units_left():
    head = SelectedUnitsHead(UNIT, ArgumentTable(hand_spec(3)), 3, HeadsConfig.small())
    n = 6
    unit_mask = torch.ones(4, n, dtype=torch.bool)
    own = torch.zeros(4, n, dtype=torch.bool)
    own[:2, :2] = True  # two selectable units: at most two picks, then end is forced (log-prob 0)
    own[2:, :] = True  # six selectable units, at most three picks
    emb, ar = torch.randn(4, n, UNIT), torch.randn(4, 64)
    types, used = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.bool)
    for seed in range(20):
        out = head(ar, emb, unit_mask & own, torch.full((4,), 3), types, used, temperature=5.0,
                   generator=torch.Generator().manual_seed(seed))  # fmt: skip
        counts = (out.choice >= 0).sum(-1)
        assert (counts[:2] <= 2).all() and (counts <= 3).all() and (counts >= 1).all()
        assert torch.allclose(out.log_prob, out.step_log_probs.sum(-1))


def test_compact_selection_with_every_limit_at_max_selected_survives_rows_dropping_out():
    """Acting's compact path: rows that end early drop out, the others reach the last step, where the per-row limits
    (all ``max_selected``: e.g. 256 own units against the small agent's 64 picks) are read for the rows left."""
    head = SelectedUnitsHead(UNIT, ArgumentTable(hand_spec(3)), 3, HeadsConfig.small())
    n = 6
    own = torch.zeros(4, n, dtype=torch.bool)
    own[:2, :2] = True  # two picks, then these rows end and drop out
    own[2:, :] = True
    emb, ar = torch.randn(4, n, UNIT), torch.randn(4, 64)
    types, used = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.bool)
    for seed in range(20):
        with torch.no_grad():
            out = head(ar, emb, own, torch.full((4,), 3), types, used, temperature=5.0, compact=True,
                       generator=torch.Generator().manual_seed(seed))  # fmt: skip
        counts = (out.choice >= 0).sum(-1)
        assert (counts[:2] <= 2).all() and (counts <= 3).all() and (counts >= 1).all()
        assert torch.allclose(out.log_prob, out.step_log_probs.sum(-1))


def test_selection_log_probs_sum_to_one_over_all_selections():
    """Scoring every possible ordered selection (end step included when short of the maximum) gives a
    distribution: the log-prob of a multi-unit selection is the sum of its steps, end step included."""
    head = SelectedUnitsHead(UNIT, ArgumentTable(hand_spec(2)), 2, HeadsConfig.small())
    n = 5
    unit_mask = torch.ones(1, n, dtype=torch.bool)
    own = torch.tensor([[True, False, True, True, False]])
    emb, ar = torch.randn(1, n, UNIT), torch.randn(1, 64)
    types, used = torch.zeros(1, dtype=torch.long), torch.ones(1, dtype=torch.bool)
    selections = [[u] for u in (0, 2, 3)] + [list(p) for p in itertools.permutations((0, 2, 3), 2)]
    total = 0.0
    for sel in selections:
        action = torch.tensor([sel + [-1] * (2 - len(sel))])
        out = head(ar, emb, unit_mask & own, torch.full((1,), 2), types, used, action=action, temperature=1.0)
        steps = out.step_log_probs[0]
        assert int((steps != 0).sum()) == (len(sel) + 1 if len(sel) < 2 else 2)
        assert torch.allclose(out.log_prob, steps.sum())
        total += float(out.log_prob.detach().exp())
    assert total == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="selected_units"):  # a unit twice
        head(ar, emb, unit_mask & own, torch.full((1,), 2), types, used, action=torch.tensor([[2, 2]]))
    with pytest.raises(ValueError, match="selected_units"):  # an enemy unit
        head(ar, emb, unit_mask & own, torch.full((1,), 2), types, used, action=torch.tensor([[1, -1]]))
    with pytest.raises(ValueError, match="selected_units"):  # empty selection
        head(ar, emb, unit_mask & own, torch.full((1,), 2), types, used, action=torch.tensor([[-1, -1]]))


@pytest.mark.parametrize("greedy", [False, True])
def test_teacher_forcing_reproduces_sampled_log_probs(spec, greedy):
    heads = ActionHeads(spec, CORE, UNIT, HeadsConfig.small())
    x = batch(spec, size=12)
    sampled = heads(**x, greedy=greedy, temperature=0.8, generator=torch.Generator().manual_seed(3))
    scored = heads(**x, action=sampled.action, temperature=0.8)
    for key in HEADS:
        assert torch.equal(scored.action[key], sampled.action[key])
        assert torch.allclose(scored.log_probs[key], sampled.log_probs[key], atol=1e-6)
        assert torch.allclose(scored.entropy[key], sampled.entropy[key], atol=1e-6)
    again = heads(**x, greedy=greedy, temperature=0.8, generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(again.action[k], sampled.action[k]) for k in HEADS)


def test_unused_arguments_neither_sampled_nor_scored(spec):
    heads = ActionHeads(spec, CORE, UNIT, HeadsConfig.small())
    names = [a.name for a in spec.action_types]
    types = torch.arange(len(names))
    x = batch(spec, size=len(names))
    garbage = {
        "action_type": types,
        "selected_units": torch.full((len(names), spec.max_selected_units), 99),
        "target_unit": torch.full((len(names),), 99),
        "target_location": torch.full((len(names), 2), 99),
        "queued": torch.full((len(names),), 7),
    }
    garbage["selected_units"][:, 0] = torch.where(types == 0, 99, 0)
    garbage["selected_units"][types == 0, 1:] = 99
    garbage["selected_units"][types != 0, 1:] = -1
    garbage["target_unit"] = torch.where(heads.table.used(types, "target_unit"), 5, 99)
    garbage["target_location"][heads.table.used(types, "target_location")] = 1
    garbage["queued"] = torch.where(heads.table.used(types, "queued"), 1, 7)
    scored = heads(**x, action=garbage)  # unused arguments hold garbage and must be ignored
    sampled = heads(**x, action={"action_type": types} | {k: None for k in ARGUMENTS})
    for out in (scored, sampled):
        for arg in ARGUMENTS:
            used = heads.table.used(types, arg)
            assert (out.log_probs[arg][~used] == 0).all() and (out.entropy[arg][~used] == 0).all()
            assert (out.log_probs[arg][used] < 0).all()
        assert (out.action["selected_units"][types == 0] == -1).all()
        assert (out.action["target_unit"][~heads.table.used(types, "target_unit")] == -1).all()
        assert (out.action["target_location"][~heads.table.used(types, "target_location")] == 0).all()
        assert (out.action["queued"][~heads.table.used(types, "queued")] == 0).all()


def test_gradients_reach_every_head_parameter(spec):
    heads = ActionHeads(spec, CORE, UNIT, HeadsConfig.small())
    value = ValueHead(CORE, HeadsConfig.small())
    x = batch(spec, size=spec.num_action_types * 2)
    x["unit_embeddings"].requires_grad_(True)
    types = torch.arange(spec.num_action_types).repeat(2)
    sampled = heads(**x, action={"action_type": types} | {k: None for k in ARGUMENTS})
    out = heads(**x, action=sampled.action)
    loss = sum(out.log_probs.values()).sum() + sum(out.entropy.values()).sum() + value(x["core_output"]).sum()
    loss.backward()
    # the last transposed convolution's one bias shifts every location logit alike, which a softmax ignores: its
    # gradient is zero but for rounding (so it is checked to be ~0, not > 0)
    last_bias = f"target_location.upsample.{len(heads.target_location.upsample) - 1}.bias"
    for name, p in [*heads.named_parameters(), *value.named_parameters()]:
        assert p.grad is not None, name
        if name == last_bias:
            assert p.grad.abs().sum() < 1e-4, name
        else:
            assert p.grad.abs().sum() > 0, name
    assert x["unit_embeddings"].grad[:, 8:].abs().sum() == 0  # padding rows do not influence the result


def test_location_head_grid_and_linear_map():
    config = HeadsConfig(location_channels=())
    head = LocationHead(6, config)
    assert head.logits(torch.randn(3, config.autoregressive_dim)).shape == (3, 36)
    used = torch.tensor([True, True, False])
    cells = torch.ones(3, 36, dtype=torch.bool)
    out = head(torch.randn(3, config.autoregressive_dim), cells, used, action=torch.tensor([[5, 0], [2, 3], [9, 9]]))
    assert out.log_prob[2] == 0 and out.choice.tolist() == [[5, 0], [2, 3], [0, 0]]
    with pytest.raises(ValueError, match="target_location"):
        head(torch.randn(1, config.autoregressive_dim), cells[:1], used[:1], action=torch.tensor([[6, 0]]))
    with pytest.raises(ValueError, match="multiple"):
        LocationHead(6, HeadsConfig.small())


def test_alphastar_preset_sizes(spec):
    config = HeadsConfig.alphastar()
    assert (config.autoregressive_dim, config.key_dim, config.temperature) == (1024, 32, 0.8)
    big = replace(spec, location_resolution=64)
    heads = ActionHeads(big, 384, 256, config)
    x = batch(big, size=2)
    x["core_output"] = torch.randn(2, 384)
    x["unit_embeddings"] = torch.randn(2, spec.max_units, 256)
    out = heads(**x, generator=torch.Generator().manual_seed(0))
    assert out.action["target_location"].shape == (2, 2) and heads.selected_units.lstm.hidden_size == 32


def test_sample_rows_draws_each_index_at_its_probability_and_never_a_zero_one():
    probs = torch.tensor([0.0, 0.1, 0.25, 0.0, 0.5, 0.15, 0.0])
    draws = 200_000
    chosen = sample_rows(3 * probs.expand(draws, -1), torch.Generator().manual_seed(0))  # unnormalised rows
    counts = torch.bincount(chosen, minlength=len(probs)).double()
    assert counts[probs == 0].sum() == 0
    expected = draws * probs.double()[probs > 0]
    chi2 = float(((counts[probs > 0] - expected) ** 2 / expected).sum())
    assert chi2 < 35  # 3 degrees of freedom: p < 1e-6 above 35
    edges = torch.tensor([[0.0, 0.0, 0.0, 2.0], [3.0, 0.0, 0.0, 0.0], [0.0, 1e-30, 0.0, 0.0]])
    for seed in range(20):
        assert sample_rows(edges, torch.Generator().manual_seed(seed)).tolist() == [3, 0, 1]


@pytest.mark.parametrize(("channels", "resolution"), [((16, 8), 64), ((16, 8, 4), 16), ((5,), 6)])
def test_location_logits_are_the_transposed_convolutions_of_the_projection(channels, resolution):
    # logits runs each ConvTranspose2d as a 3x3 convolution and a pixel shuffle: the same values and gradients
    torch.manual_seed(0)
    head = LocationHead(resolution, HeadsConfig(location_channels=channels))
    embedding = torch.randn(5, head.config.autoregressive_dim)
    weights = torch.randn(5, resolution * resolution)
    parameters = [*head.project.parameters(), *head.upsample.parameters()]

    def reference() -> torch.Tensor:
        return head.upsample(head.project(embedding).unflatten(-1, (-1, head.base, head.base))).flatten(1)

    torch.testing.assert_close(head.logits(embedding), reference(), atol=1e-6, rtol=1e-5)
    grads = torch.autograd.grad((head.logits(embedding) * weights).sum(), parameters)
    expected = torch.autograd.grad((reference() * weights).sum(), parameters)
    for got, want in zip(grads, expected, strict=True):
        torch.testing.assert_close(got, want, atol=1e-3, rtol=1e-4)


def test_location_logits_without_autograd_follow_weight_changes():
    # acting keeps the 3x3 weights between calls: loading weights or an optimiser step must still be seen
    torch.manual_seed(0)
    head = LocationHead(16, HeadsConfig(location_channels=(4, 2)))
    embedding = torch.randn(3, head.config.autoregressive_dim)
    for change in range(3):
        with torch.inference_mode():
            acted = head.logits(embedding)
        torch.testing.assert_close(acted, head.logits(embedding).detach(), atol=1e-6, rtol=1e-5)
        with torch.no_grad():
            if change == 0:
                head.upsample[1].weight.add_(0.5)  # in place (an optimiser step)
            else:
                head.load_state_dict({k: torch.randn_like(v) for k, v in head.state_dict().items()})
