"""AlphaStar-style action heads (action type, selected-units pointer network, target unit, location, queued)
and the value head, chained through the autoregressive embedding; a step chains up to N such actions."""

from agents.heads.action_heads import HEADS, ActionHeads, ActionHeadsOutput
from agents.heads.action_type import ActionTypeHead
from agents.heads.arguments import ArgumentTable
from agents.heads.autoregressive import HeadOutput, add_where_used
from agents.heads.config import HeadsConfig
from agents.heads.distributions import Choice, categorical
from agents.heads.location import LocationHead
from agents.heads.query import PointerQuery
from agents.heads.queued import QueuedHead
from agents.heads.selected_units import SelectedUnitsHead, SelectionOutput
from agents.heads.step_actions import StepActions, StepActionsOutput
from agents.heads.target_unit import TargetUnitHead
from agents.heads.value import ValueHead
from agents.spec import ARGUMENTS

__all__ = [
    "ARGUMENTS",
    "HEADS",
    "ActionHeads",
    "ActionHeadsOutput",
    "ActionTypeHead",
    "ArgumentTable",
    "Choice",
    "HeadOutput",
    "HeadsConfig",
    "LocationHead",
    "PointerQuery",
    "QueuedHead",
    "SelectedUnitsHead",
    "SelectionOutput",
    "StepActions",
    "StepActionsOutput",
    "TargetUnitHead",
    "ValueHead",
    "add_where_used",
    "categorical",
]
