"""The AlphaStar-style agent: featurizer -> entity encoder + scalar encoder -> core -> action heads and value head.

Observations are dicts of batched tensors in the contract's format: ``units`` [B, N, C], ``unit_mask`` [B, N],
``scalars`` [B, S], ``available_actions`` [B, A]. The recurrent state is a dict of tensors, batch first, so a
rollout can store and slice it per row: ``core_h`` and ``core_c`` [B, layers, hidden] (the LSTM) and
``previous_action_type`` [B] (-1: none), which feeds the scalar encoder, and ``previous_target_tag`` [B] (-1: none),
the tag of the unit the previous action targeted, which marks that unit's row as was-targeted (rows move
between steps, tags do not); both come from the step's last action that was not a no_op. Rows where ``first`` [B]
marks an episode start are reset before the step. One step sends up to the spec's ``actions_per_step`` actions,
chained and ended by a no_op (``heads/step_actions.py``): action tensors carry a sub-action axis after the batch
(``action_type`` [B, N], ``selected_units`` [B, N, K], ...). Every head samples under the spec's legality rules
(``heads/legality.py``), so sampled actions are legal by construction. The agent never sees the environment, only its
spec, read through ``agents.spec.AgentSpec`` (which refuses a spec of another version). ``act``, ``evaluate`` and
``evaluate_sequence`` check what they are given against it first (``agents.inputs``: one ``AgentInputError``
naming the tensor, its row and column, and what was expected).

Temperature applies only when acting: ``act`` samples at the heads config's temperature (or the one given) and
returns it per row; ``evaluate`` and ``evaluate_sequence`` score at temperature 1 unless told otherwise, so
behaviour cloning fits the data's own distribution and an RL learner scores actions at the temperature they were
sampled at.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from agents.config import AgentConfig
from agents.core import Core
from agents.encoders import build_entity_encoder
from agents.featurizer import UnitFeaturizer
from agents.frame import OwnSideFrame
from agents.heads import ActionHeads, ValueHead
from agents.heads.distributions import recording_active
from agents.heads.legality import Legality
from agents.heads.step_actions import StepActions, last_actions
from agents.inputs import (
    AgentInputError,
    check_actions,
    check_first,
    check_observation,
    check_state,
    check_temperature,
)
from agents.scalar_encoder import ScalarEncoder
from agents.spec import AgentSpec
from perceiver_io.checks import model_dtype

AgentState = dict[str, torch.Tensor]


class ActOutput(NamedTuple):
    """``action``: the contract's keys, batched with the sub-action axis ([B, N, ...]); ``log_prob`` [B] summed over
    the heads and sub-actions used, at ``temperature`` [B], the temperature each step was sampled at; ``value``
    [B]."""

    action: dict[str, torch.Tensor]
    log_prob: torch.Tensor
    value: torch.Tensor
    state: AgentState
    temperature: torch.Tensor


class EvaluateOutput(NamedTuple):
    """Per-head ``log_probs`` and ``entropy`` dicts ([B] each, summed over the sub-actions, 0 for unused arguments),
    ``value`` [B].

    From ``evaluate_sequence`` every tensor is time-major, [T, B], and ``state`` is the state after the last step.
    """

    log_probs: dict[str, torch.Tensor]
    entropy: dict[str, torch.Tensor]
    value: torch.Tensor
    state: AgentState


class UnrollInputs(NamedTuple):
    """What ``evaluate_sequence`` derives from its arguments before it uses a weight, over its T x B rows (time
    major): the observations without trailing padding and the actions ([T * B, ...]), each row's previous action
    type and targeted tag, the legality masks, ``first`` [T, B] (bool), the temperature (a number or [T * B]) and
    ``state``: the initial core state with the previous action type and tag after the unroll; the observations and
    actions are in the agent's ``frame``. Two agents of one spec and frame scoring the same unroll (the RL learner's
    policy and its KL reference) share them."""

    obs: dict[str, torch.Tensor]
    action: dict[str, torch.Tensor]
    previous: torch.Tensor
    target_tag: torch.Tensor
    legal: Legality
    first: torch.Tensor
    temperature: float | torch.Tensor
    state: AgentState
    frame: str


class Agent(nn.Module):
    """Policy and value network for one spec; ``config.entity_encoder.kind`` picks Perceiver IO or Transformer."""

    def __init__(self, spec: Any, config: AgentConfig | None = None) -> None:
        """``spec``: the environment's spec (the contract's ``Spec``), its dict form, or an ``AgentSpec``."""
        super().__init__()
        spec = AgentSpec.from_dict(spec)
        self.spec = spec
        self.config = config or AgentConfig.small()
        columns = list(spec.unit_columns)
        self.tag_column = columns.index("tag") if "tag" in columns else None
        self.featurizer = UnitFeaturizer(spec, self.config.featurizer)
        self.entity_encoder = build_entity_encoder(self.config.entity_encoder, self.featurizer.out_channels)
        self.scalar_encoder = ScalarEncoder(spec, self.config.scalar)
        self.core = Core(self.entity_encoder.entity_dim + self.scalar_encoder.out_channels, self.config.core)
        self.heads = ActionHeads(spec, self.core.out_channels, self.entity_encoder.unit_dim, self.config.heads)
        self.step_actions = StepActions(spec.actions_per_step, spec.no_op, self.core.out_channels, self.config.heads)
        self.value = ValueHead(self.core.out_channels, self.config.heads)
        self.encoder_autocast: torch.dtype | None = None  # see ``autocast_encoder``
        self.frame = OwnSideFrame(spec) if self.config.frame == "own_side" else None

    def autocast_encoder(self, dtype: torch.dtype | None) -> Agent:
        """Run the entity encoder (most of the agent's matmuls) under autocast to ``dtype`` (None: off); its outputs
        come back in the agent's dtype, and the core and heads stay there, so the log-probs keep their precision
        (bf16 logits would move a learner's importance weights by up to ~15%). Returns the agent."""
        self.encoder_autocast = dtype
        return self

    def checkpoint_config(self) -> dict[str, Any]:
        """A JSON-serialisable dict that, with the state dict, rebuilds this agent (``from_checkpoint``)."""
        return {"spec": self.spec.to_dict(), "agent": self.config.to_dict()}

    @classmethod
    def from_checkpoint(cls, config: dict[str, Any], state_dict: dict[str, torch.Tensor]) -> Agent:
        agent = cls(config["spec"], AgentConfig.from_dict(config["agent"]))
        agent.load_state_dict(state_dict)
        return agent

    def _check(
        self, obs: dict[str, torch.Tensor], state: AgentState, first: torch.Tensor | None, lead: int
    ) -> dict[str, torch.Tensor]:
        """``obs`` checked against the spec with ``lead`` leading dims ([B] or [T, B]), and the state and ``first``
        against it; returns ``obs`` with ``units`` and ``scalars`` in the agent's dtype."""
        obs = check_observation(self.spec, obs, lead, model_dtype(self))
        shape = tuple(obs["unit_mask"].shape[:lead])
        check_state(state, shape[-1], (self.core.state_layers, self.core.config.hidden), self.spec.num_action_types)
        check_first(first, shape)
        return obs

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> AgentState:
        h, c = self.core.initial_state(batch_size, device)
        previous = torch.full((batch_size,), -1, dtype=torch.long, device=device)
        target_tag = torch.full((batch_size,), -1.0, device=device)
        return {"core_h": h, "core_c": c, "previous_action_type": previous, "previous_target_tag": target_tag}

    def trunk(
        self, obs: dict[str, torch.Tensor], state: AgentState, first: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Legality, tuple[torch.Tensor, torch.Tensor]]:
        """Core output [B, H], unit embeddings [B, N, D], what the observation allows (in the agent's frame), and the
        new core state."""
        return self._trunk(self._in_frame(obs)[0], state, first)

    def _trunk(
        self, obs: dict[str, torch.Tensor], state: AgentState, first: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, Legality, tuple[torch.Tensor, torch.Tensor]]:
        """``trunk`` of observations already in the agent's frame."""
        previous, target_tag = state["previous_action_type"], state["previous_target_tag"]
        if first is not None:
            previous = torch.where(first.bool(), -1, previous)
            target_tag = torch.where(first.bool(), -1.0, target_tag)
        core_input, units, legal = self._encode(obs, previous, target_tag)
        core_output, core_state = self.core(core_input, (state["core_h"], state["core_c"]), first)
        return core_output, units, legal, core_state

    def _in_frame(self, obs: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """``obs`` in the agent's frame (``agents.frame``), and which rows were reflected (None: the map's frame)."""
        if self.frame is None:
            return obs, None
        mirrored = self.frame.mirrored(obs)
        return self.frame.observe(obs, mirrored), mirrored

    def _to_frame(self, action: dict[str, torch.Tensor], mirrored: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """``action`` between the map's frame and the agent's (either way: the reflection is its own inverse)."""
        return action if mirrored is None else self.frame.actions(action, mirrored)

    def _encode(
        self, obs: dict[str, torch.Tensor], previous: torch.Tensor, target_tag: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, Legality]:
        """Everything before the core, for any batch of rows: core input, unit embeddings, legality masks."""
        return *self._encode_rows(obs, previous, target_tag), self.heads.rules.observe(obs)

    def _encode_rows(
        self, obs: dict[str, torch.Tensor], previous: torch.Tensor, target_tag: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``_encode`` without the legality masks: core input and unit embeddings."""
        units = obs["units"]
        unit_mask = obs["unit_mask"].bool()
        was_targeted = None
        if self.tag_column is not None:
            was_targeted = unit_mask & (target_tag[:, None] >= 0) & (units[..., self.tag_column] == target_tag[:, None])
        features, rows = self.featurizer(units, unit_mask, was_targeted, packed=True)
        if self.encoder_autocast is None:
            encoded = self.entity_encoder(features, unit_mask, rows)
        else:
            with torch.autocast(units.device.type, dtype=self.encoder_autocast):
                encoded = self.entity_encoder(features, unit_mask, rows)
            encoded.unit_embeddings = encoded.unit_embeddings.to(features.dtype)
            encoded.embedded_entity = encoded.embedded_entity.to(features.dtype)
        scalars = self.scalar_encoder(obs["scalars"], previous, units, unit_mask, obs["available_actions"])
        core_input = torch.cat([encoded.embedded_entity, scalars], dim=-1)
        return core_input, encoded.unit_embeddings

    def next_state(
        self, core_state: tuple[torch.Tensor, torch.Tensor], action: dict[str, torch.Tensor], units: torch.Tensor
    ) -> AgentState:
        """The recurrent state after a step's ``action`` ([B, N, ...]): the core's, and the type and targeted unit's
        tag of the step's last action that was not a no_op."""
        kind, target = last_actions(action, self.spec.no_op)
        target = torch.where(self.heads.table.used(kind, "target_unit"), target, -1)
        target_tag = torch.full(target.shape, -1.0, device=units.device)
        if self.tag_column is not None:
            rows = units[torch.arange(units.shape[0], device=units.device), target.clamp(min=0), self.tag_column]
            target_tag = torch.where(target >= 0, rows.float(), target_tag)
        return {
            "core_h": core_state[0],
            "core_c": core_state[1],
            "previous_action_type": kind,
            "previous_target_tag": target_tag,
        }

    def act(
        self,
        obs: dict[str, torch.Tensor],
        state: AgentState,
        first: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
        given: dict[str, torch.Tensor] | None = None,
        greedy_arguments: bool = False,
    ) -> ActOutput:
        """Sample (or pick greedily) one step's actions per row; ``temperature`` defaults to the heads config's.
        ``greedy_arguments``: sample the action types, pick the most likely arguments (units, target, location).

        ``given`` ([B, N, ...] per key) fixes some heads' choices in every sub-action (e.g. the true action types, to
        measure the selections given them); see ``StepActions``. Work whose result is unused is skipped (heads on
        the rows that use them, sub-actions on the rows still acting, entropies), except inside ``recording``, whose
        distributions must cover every row.
        """
        obs = self._check(obs, state, first, lead=1)
        if given is not None:
            check_actions(self.spec, given, tuple(obs["unit_mask"].shape[:1]), obs["units"].shape[-2], "given",
                          partial=True)  # fmt: skip
        obs, mirrored = self._in_frame(without_trailing_padding(obs))
        core_output, units, legal, core_state = self._trunk(obs, state, first)
        temperature = float(self.config.heads.temperature if temperature is None else temperature)
        temperatures = torch.full((core_output.shape[0],), temperature, device=core_output.device)
        out = self.step_actions(self.heads, core_output, units, legal, action=self._to_frame(given, mirrored)
                                if given is not None else None, greedy=greedy, temperature=temperature,
                                generator=generator, compact=not recording_active(),
                                greedy_arguments=greedy_arguments)  # fmt: skip
        log_prob = torch.stack(list(out.log_probs.values())).sum(0)
        state = self.next_state(core_state, out.action, obs["units"])
        action = self._to_frame(out.action, mirrored)
        return ActOutput(action, log_prob, self.value(core_output), state, temperatures)

    def forward(self, *args: Any, **kwargs: Any) -> ActOutput:
        """``act`` (so hooks, e.g. the FLOP counter's module tracker, see the agent as a module call)."""
        return self.act(*args, **kwargs)

    def evaluate(
        self,
        obs: dict[str, torch.Tensor],
        action: dict[str, torch.Tensor],
        state: AgentState,
        first: torch.Tensor | None = None,
        temperature: float | torch.Tensor = 1.0,
    ) -> EvaluateOutput:
        """Score the given actions, every head teacher-forced, at ``temperature`` (a number or one per row [B]; pass
        ``act``'s to get its log-probs back)."""
        obs = self._check(obs, state, first, lead=1)
        check_actions(self.spec, action, tuple(obs["unit_mask"].shape[:1]), obs["units"].shape[-2], "action",
                      partial=False)  # fmt: skip
        check_temperature(temperature, tuple(obs["unit_mask"].shape[:1]))
        obs, mirrored = self._in_frame(without_trailing_padding(obs))
        core_output, units, legal, core_state = self._trunk(obs, state, first)
        out = self.step_actions(self.heads, core_output, units, legal, action=self._to_frame(action, mirrored),
                                temperature=temperature, score=True)  # fmt: skip
        return EvaluateOutput(
            out.log_probs, out.entropy, self.value(core_output), self.next_state(core_state, action, obs["units"])
        )

    def evaluate_sequence(
        self,
        obs: dict[str, torch.Tensor],
        action: dict[str, torch.Tensor],
        state: AgentState,
        first: torch.Tensor,
        temperature: float | torch.Tensor = 1.0,
    ) -> EvaluateOutput:
        """``evaluate`` over a time-major unroll (obs and actions [T, B, ...], ``first`` [T, B], ``temperature`` a
        number or [T, B]) from ``state``.

        Equal to calling ``evaluate`` step by step, but the featurizer, encoders and heads see all T x B rows
        at once; only the core runs step by step. Unit rows past the last real unit of the whole unroll are dropped
        first (``without_trailing_padding``). The previous action type and targeted tag of step t come from
        the given actions at t - 1 (teacher forcing: its last action that was not a no_op), and from ``state`` at
        t = 0. Equal to ``evaluate_unroll(unroll_inputs(...))``.
        """
        return self.evaluate_unroll(self.unroll_inputs(obs, action, state, first, temperature))

    def unroll_inputs(
        self,
        obs: dict[str, torch.Tensor],
        action: dict[str, torch.Tensor],
        state: AgentState,
        first: torch.Tensor,
        temperature: float | torch.Tensor = 1.0,
    ) -> UnrollInputs:
        """``evaluate_sequence``'s arguments checked against the spec and laid out as rows (``UnrollInputs``)."""
        if not isinstance(first, torch.Tensor) or first.dim() != 2:
            got = tuple(first.shape) if isinstance(first, torch.Tensor) else type(first).__name__
            raise AgentInputError(f"first must be a [T, B] tensor (time-major episode starts), got {got}")
        obs = self._check(obs, state, first, lead=2)
        check_actions(self.spec, action, tuple(first.shape), obs["units"].shape[-2], "action", partial=False)
        check_temperature(temperature, tuple(first.shape))
        steps, batch = first.shape
        obs, mirrored = self._in_frame(without_trailing_padding(obs))
        action = self._to_frame(action, mirrored)
        flat = {key: value.reshape(steps * batch, *value.shape[2:]) for key, value in obs.items()}
        flat_action = {key: value.reshape(steps * batch, *value.shape[2:]) for key, value in action.items()}
        units = flat["units"]
        after = self.next_state((units.new_zeros(0), units.new_zeros(0)), flat_action, units)  # each step's inputs
        kinds = after["previous_action_type"].reshape(steps, batch)
        tags = after["previous_target_tag"].reshape(steps, batch)
        previous = torch.cat([state["previous_action_type"][None], kinds[:-1]], 0)
        target_tag = torch.cat([state["previous_target_tag"][None], tags[:-1]], 0)
        first = first.bool()
        previous = torch.where(first, -1, previous).reshape(-1)
        target_tag = torch.where(first, -1.0, target_tag).reshape(-1)
        if isinstance(temperature, torch.Tensor) and temperature.dim():
            temperature = temperature.reshape(steps * batch)
            if temperature.numel() and bool((temperature == temperature[0]).all()):
                temperature = float(temperature[0])  # one for every row (as usual): the heads' scalar path
        final = {
            "core_h": state["core_h"],  # the core's state before the unroll until ``evaluate_unroll`` runs it
            "core_c": state["core_c"],
            "previous_action_type": kinds[-1],
            "previous_target_tag": tags[-1],
        }
        return UnrollInputs(flat, flat_action, previous, target_tag, self.heads.rules.observe(flat), first,
                            temperature, final, self.config.frame)  # fmt: skip

    def evaluate_unroll(self, inputs: UnrollInputs) -> EvaluateOutput:
        """``evaluate_sequence`` of inputs from ``unroll_inputs`` (this agent's, or another agent's of the same
        spec and frame)."""
        if inputs.frame != self.config.frame:
            raise AgentInputError(f"these unroll inputs are in the {inputs.frame!r} frame, this agent sees the "
                                  f"{self.config.frame!r} frame; build them with its own unroll_inputs")  # fmt: skip
        steps, batch = inputs.first.shape
        core_input, unit_embeddings = self._encode_rows(inputs.obs, inputs.previous, inputs.target_tag)
        core_input = core_input.reshape(steps, batch, -1)
        core_state = (inputs.state["core_h"], inputs.state["core_c"])
        outputs = []
        for t in range(steps):
            core_output, core_state = self.core(core_input[t], core_state, inputs.first[t])
            outputs.append(core_output)
        core_output = torch.stack(outputs).reshape(steps * batch, -1)
        out = self.step_actions(self.heads, core_output, unit_embeddings, inputs.legal, action=inputs.action,
                                temperature=inputs.temperature, score=True)  # fmt: skip
        final = {**inputs.state, "core_h": core_state[0], "core_c": core_state[1]}
        return EvaluateOutput(
            {k: v.reshape(steps, batch) for k, v in out.log_probs.items()},
            {k: v.reshape(steps, batch) for k, v in out.entropy.items()},
            self.value(core_output).reshape(steps, batch),
            final,
        )


def without_trailing_padding(obs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``obs`` without the unit rows after the last real one of every batch row (at least one row kept).

    Environments put real units first and pad to ``max_units`` (64 rows, of which a 3m to MMM game fills 6 to 20):
    every part of the agent treats padding as absent, so acting on fewer rows gives the same actions, with row
    indices unchanged, at a fraction of the cost of the featurizer, the encoder and the pointer heads.
    """
    mask = obs["unit_mask"]
    rows = mask.shape[-1]
    last = int((mask.bool() * torch.arange(1, rows + 1, device=mask.device)).amax()) if mask.numel() else rows
    keep = max(last, 1)
    if keep == rows:
        return obs
    return {**obs, "units": obs["units"][..., :keep, :], "unit_mask": mask[..., :keep]}
