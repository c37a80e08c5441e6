"""One player's current selection and control groups, replayed from selection and control-group events.

Replays record selection as deltas: a selection event removes units by position (a bit mask, the indices to
remove, or the indices to keep) and adds units (subgroups of a unit type, with their tags); control-group events
set, add to, recall or clear a group from the active selection. The game also sends selection events of its own
(a selected unit dies, morphs, or a worker enters a refinery) so the recorded selection stays right.

Positions refer to the selection sorted by tag: with that order every delta of the six shared replays fits and
the selections hold almost no dead units, while the order the events list subgroups in (subgroup priority) leaves
177 deltas that index past the selection and thousands of dead units selected. ``errors`` counts deltas that did
not fit (an index past the end), a sign the tracking drifted.
"""

from __future__ import annotations

from bisect import insort

ACTIVE = 10  # the control-group index replays use for the active selection
NUM_GROUPS = 11


class SelectionTracker:
    """Control groups 0..9 and the active selection (10), each a list of tags in ascending order."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = [[] for _ in range(NUM_GROUPS)]
        self.known = False  # False until the first event that sets the player's active selection
        self.errors = 0

    @property
    def active(self) -> list[int]:
        """Tags of the active selection, in the game's order."""
        return self.groups[ACTIVE]

    def selection_event(self, event) -> None:
        """A sc2reader SelectionEvent: remove by mask, then add the new units."""
        group = event.control_group
        self.groups[group] = _merge(self._remove(self.groups[group], event.mask_type, event.mask_data),
                                    event.new_unit_ids)  # fmt: skip
        if group == ACTIVE:
            self.known = True

    def control_group_event(self, event) -> None:
        """A sc2reader Set/AddTo/Get/DeleteControlGroupEvent."""
        kind, group = type(event).__name__, event.control_group
        if kind == "SetControlGroupEvent":
            self.groups[group] = self._remove(list(self.groups[ACTIVE]), event.mask_type, event.mask_data)
        elif kind == "AddToControlGroupEvent":
            kept = self._remove(self.groups[group], event.mask_type, event.mask_data)
            self.groups[group] = _merge(kept, self.groups[ACTIVE])
        elif kind == "GetControlGroupEvent":
            self.groups[ACTIVE] = self._remove(list(self.groups[group]), event.mask_type, event.mask_data)
            self.known = True
        elif kind == "DeleteControlGroupEvent":
            self.groups[group] = []

    def _remove(self, selection: list[int], mode: str | None, data) -> list[int]:
        size = len(selection)
        if mode in (None, "None"):
            return selection
        if mode == "Mask":  # bit i set: remove position i
            bits = list(data)
            if any(bits[size:]):
                self.errors += 1
            return [tag for tag, bit in zip(selection, bits + [False] * (size - len(bits)), strict=False) if not bit]
        indices = set(data)
        if any(i >= size for i in indices):
            self.errors += 1
        if mode == "OneIndices":  # the positions to remove
            return [tag for i, tag in enumerate(selection) if i not in indices]
        if mode == "ZeroIndices":  # the positions to keep
            return [tag for i, tag in enumerate(selection) if i in indices]
        self.errors += 1
        return selection


def _merge(selection: list[int], added) -> list[int]:
    """The union of a sorted selection and ``added`` tags, sorted."""
    out = list(selection)
    present = set(out)
    for tag in added:
        if tag not in present:
            insort(out, tag)
            present.add(tag)
    return out
