"""The 46 columns of ``obs["units"]``, the ``alliance`` values and the constants some columns hold.

``UnitColumn`` reproduces pysc2's ``features.FeatureUnit`` (same names, same order, same values) so rows built
by Skirmish, by pysc2's raw interface and by the replay reader mean the same thing to the agent. pysc2 is not
imported: the order is checked against pysc2's source text by the tests.
"""

from __future__ import annotations

from enum import IntEnum


class UnitColumn(IntEnum):
    """Column index of each per-unit feature in ``obs["units"]`` (pysc2 ``FeatureUnit`` order)."""

    unit_type = 0
    alliance = 1
    health = 2
    shield = 3
    energy = 4
    cargo_space_taken = 5
    build_progress = 6
    health_ratio = 7
    shield_ratio = 8
    energy_ratio = 9
    display_type = 10
    owner = 11
    x = 12
    y = 13
    facing = 14
    radius = 15
    cloak = 16
    is_selected = 17
    is_blip = 18
    is_powered = 19
    mineral_contents = 20
    vespene_contents = 21
    cargo_space_max = 22
    assigned_harvesters = 23
    ideal_harvesters = 24
    weapon_cooldown = 25
    order_length = 26
    order_id_0 = 27
    order_id_1 = 28
    tag = 29
    hallucination = 30
    buff_id_0 = 31
    buff_id_1 = 32
    addon_unit_type = 33
    active = 34
    is_on_screen = 35
    order_progress_0 = 36
    order_progress_1 = 37
    order_id_2 = 38
    order_id_3 = 39
    is_in_cargo = 40
    buff_duration_remain = 41
    buff_duration_max = 42
    attack_upgrade_level = 43
    armor_upgrade_level = 44
    shield_upgrade_level = 45


UNIT_COLUMNS: tuple[str, ...] = tuple(c.name for c in UnitColumn)
NUM_UNIT_COLUMNS = len(UNIT_COLUMNS)
ORDER_ID_COLUMNS = (UnitColumn.order_id_0, UnitColumn.order_id_1, UnitColumn.order_id_2, UnitColumn.order_id_3)


class Alliance(IntEnum):
    """A unit's relation to the observing player (SC2 API ``Alliance``; the ``alliance`` column)."""

    self = 1
    ally = 2
    neutral = 3
    enemy = 4


# SC2 API enum values for columns an environment may fill with a constant (a finished, uncloaked, visible unit).
DISPLAY_VISIBLE = 1  # DisplayType.Visible (Snapshot = 2, Hidden = 3)
CLOAK_NOT_CLOAKED = 3  # CloakState.NotCloaked (Cloaked = 1, CloakedDetected = 2)
BUILD_PROGRESS_DONE = 100  # pysc2 reports int(build_progress * 100); finished units have build_progress 1.0
RATIO_SCALE = 255  # pysc2 reports health/shield/energy ratios as int(value / max * 255)
