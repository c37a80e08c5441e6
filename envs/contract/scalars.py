"""The ``obs["scalars"]`` vector: its entries in order, what each one means, and the game clock they count in.

Every environment fills the same list; an entry an environment cannot know is 0 and its description says so.
"""

from __future__ import annotations

from enum import IntEnum

LOOPS_PER_SECOND = 22.4  # game loops per game second at "faster" speed (StarCraft II's, kept by Skirmish)

SCALARS: tuple[tuple[str, str], ...] = (
    ("game_loop", "game loops since the start (22.4 per game second)"),
    ("time_remaining", "fraction of the scenario's time limit still left: 1 at the start, 0 at the limit"),
    ("map_width", "map width in map units (the x range of unit positions)"),
    ("map_height", "map height in map units (the y range of unit positions)"),
    ("minerals", "minerals banked (pysc2 player.minerals); always 0 in Skirmish, which has no economy"),
    ("vespene", "vespene banked (pysc2 player.vespene); always 0 in Skirmish, which has no economy"),
    ("food_used", "supply of the player's living units (pysc2 player.food_used)"),
    ("army_count", "number of the player's living units (pysc2 player.army_count)"),
    ("enemy_food_visible", "supply of the enemy units the player can see"),
    ("enemy_army_count_visible", "number of enemy units the player can see"),
    (
        "own_vitality",
        "health + shields of the player's living units over the full health + shields of all the player's "
        "starting units: 1 at the start, 0 when the army is gone",
    ),
    (
        "enemy_vitality_visible",
        "health + shields of the visible enemy units over the full health + shields of all the enemy's starting "
        "units (the denominator is the scenario's, so with fog it counts only what is seen)",
    ),
)
# Appended by environments with an economy (Skirmish's full games): pysc2's ``player`` entries the base list lacks.
ECONOMY_SCALARS: tuple[tuple[str, str], ...] = (
    ("food_cap", "supply the player's finished supply structures provide, at most 200 (pysc2 player.food_cap)"),
    ("food_army", "supply of the player's army: units that are neither workers nor structures (player.food_army)"),
    ("food_workers", "supply of the player's workers (pysc2 player.food_workers)"),
    ("idle_worker_count", "the player's workers with nothing to do: not gathering, building or fighting"),
    ("larva_count", "the player's larva (zerg; 0 for the other races)"),
)
SCALAR_NAMES: tuple[str, ...] = tuple(name for name, _ in SCALARS)
NUM_SCALARS = len(SCALAR_NAMES)
Scalar = IntEnum("Scalar", {name: i for i, name in enumerate(SCALAR_NAMES)})
Scalar.__doc__ = "Index of each entry of ``obs['scalars']``."
