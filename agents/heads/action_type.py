"""Action-type head: an MLP on the core output, masked to the legal types; starts the autoregressive embedding.

AlphaStar: the embedding is Linear(ReLU(Linear 256 of the action-type one-hot)) to 1024, plus Linear 1024 of the
core (LSTM) output.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from agents.heads.autoregressive import HeadOutput
from agents.heads.config import HeadsConfig
from agents.heads.distributions import categorical


class ActionTypeHead(nn.Module):
    """[B, core_dim] core output + [B, A] legal action types -> action type [B] and the autoregressive embedding.

    Rows not ``active`` [B] (a step whose actions already ended) are neither sampled nor scored: their type is
    ``end`` (the no_op), with log-prob and entropy 0."""

    def __init__(self, core_dim: int, num_action_types: int, config: HeadsConfig) -> None:
        super().__init__()
        self.config = config
        self.num_action_types = num_action_types
        self.logits = nn.Sequential(
            nn.Linear(core_dim, config.action_type_hidden),
            nn.ReLU(),
            nn.Linear(config.action_type_hidden, num_action_types),
        )
        self.embed_choice = nn.Sequential(
            nn.Linear(num_action_types, config.action_type_hidden),
            nn.ReLU(),
            nn.Linear(config.action_type_hidden, config.autoregressive_dim),
        )
        self.embed_core = nn.Linear(core_dim, config.autoregressive_dim)

    def forward(
        self,
        core_output: torch.Tensor,
        available_actions: torch.Tensor,
        action: torch.Tensor | None = None,
        greedy: bool = False,
        temperature: float | torch.Tensor = 1.0,
        generator: torch.Generator | None = None,
        *,
        active: torch.Tensor,
        end: int,
        with_entropy: bool = True,
    ) -> HeadOutput:
        choice = categorical(
            self.logits(core_output),
            available_actions.bool(),
            active,
            action=action,
            greedy=greedy,
            temperature=temperature,
            generator=generator,
            name="action_type",
            with_entropy=with_entropy,
        )
        index = torch.where(active, choice.index, end)
        one_hot = F.one_hot(index, self.num_action_types).to(core_output.dtype)
        embedding = self.embed_choice(one_hot) + self.embed_core(core_output)
        return HeadOutput(index, choice.log_prob, choice.entropy, embedding)
