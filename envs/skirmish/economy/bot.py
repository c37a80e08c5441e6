"""The full-game bots: ten levels that run an economy (``MacroPlayer`` in the level's ``MacroStyle``), gather an army
at home and attack with it once it is big enough, fighting with the battle bots' micro.

A bot speaks the contract: each step it returns at most the match's ``actions_per_step`` action dicts for its own
observation (rows, resource rows and cells as the agent sees them). Its economy half reads its own player's
economy (bank, queues, workers' jobs: all things the player knows in StarCraft II) to decide; its army half sees
only the observation, through the battle ``Bot`` of the level's ``combat`` micro, given the army's rows and the
visible enemies. Where to attack: the last enemy structure it saw, else the enemy start locations it has not yet
scouted, nearest first (on a two-start map, the enemy's main). Cheat levels see through fog and/or gather more per
trip (``income``), as StarCraft II's cheating AIs do: ``cheat_money`` 1.4 times (7 minerals a trip instead of 5,
what Wings of Liberty's insane AI gathered), ``cheat_insane`` twice and with vision (our factors: Blizzard does not
publish LotV's).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from envs.contract.action import make_action
from envs.contract.catalogue import ATTACK_MOVE
from envs.contract.columns import Alliance
from envs.contract.columns import UnitColumn as C
from envs.contract.spec import Spec
from envs.skirmish.bots import LEVEL_CONFIGS
from envs.skirmish.bots.bot import Bot
from envs.skirmish.bots.facts import UnitFacts
from envs.skirmish.economy.catalogue import full_catalogue
from envs.skirmish.economy.game import FullGame
from envs.skirmish.economy.macro import MacroOrder, MacroPlayer, MacroStyle
from envs.skirmish.economy.observation import FullObserved
from envs.skirmish.economy.rules import STRUCTURE

STAGING = 14.0  # map units from the main town hall towards the map centre where the army gathers
DEFEND_RADIUS = 18.0  # an enemy unit this close to an own structure is fought at once
SCOUTED = 8.0  # an army unit this close to a point has looked at it
REGROUP = 0.35  # an attack ends when the army falls below this fraction of the attack size
SWEEP = 16.0  # spacing of the points an army visits when it knows of no enemy structure left


@dataclass(frozen=True)
class FullGameLevel:
    """How one level plays a full game: its economy, when it attacks, whose micro it uses, what it cheats."""

    name: str
    macro_every: int  # decides its economy every this many agent steps
    style: MacroStyle
    attack_supply: float  # army supply at which it attacks
    combat: str  # the battle level (``bots.LEVEL_CONFIGS``) whose micro its army uses
    vision: bool = False
    income: float = 1.0


_STRONG = MacroStyle(workers_per_base=19, supply_margin=8, expand=True)
FULL_GAME_LEVELS: dict[str, FullGameLevel] = {
    level.name: level
    for level in (
        FullGameLevel("very_easy", 8, MacroStyle(workers_per_base=10, supply_margin=0, upgrades=False, surplus=None,
                                                  gas_workers=1), 4, "very_easy"),
        FullGameLevel("easy", 4, MacroStyle(workers_per_base=13, supply_margin=1, upgrades=False, surplus=None,
                                             gas_workers=2), 8, "easy"),
        FullGameLevel("medium", 3, MacroStyle(workers_per_base=15, supply_margin=2, upgrades=False, surplus=800), 14,
                      "medium"),
        FullGameLevel("medium_hard", 2, MacroStyle(workers_per_base=17, supply_margin=3, surplus=600), 20,
                      "medium_hard"),
        FullGameLevel("hard", 1, MacroStyle(workers_per_base=18, supply_margin=4), 26, "hard"),
        FullGameLevel("harder", 1, MacroStyle(workers_per_base=19, supply_margin=6), 32, "harder"),
        FullGameLevel("very_hard", 1, _STRONG, 44, "very_hard"),
        FullGameLevel("cheat_vision", 1, _STRONG, 44, "very_hard", vision=True),
        FullGameLevel("cheat_money", 1, _STRONG, 44, "very_hard", income=1.4),
        FullGameLevel("cheat_insane", 1, _STRONG, 44, "very_hard", vision=True, income=2.0),
    )
}  # fmt: skip
FULL_GAME_BOT_LEVELS: tuple[str, ...] = tuple(FULL_GAME_LEVELS)


def apply_full_game_cheats(match, levels: dict[int, str | None]) -> None:
    """Give each player of ``match`` (a ``FullMatch``) whose bot level cheats its vision and income."""
    see_all, income = set(match.see_all), list(match.income)
    for player, level in levels.items():
        if level is None:
            continue
        config = FULL_GAME_LEVELS[level]
        if config.vision:
            see_all.add(player)
        income[player - 1] = config.income
    match.set_cheats(tuple(see_all), (income[0], income[1]))


@dataclass
class _ActionOrders:
    """A bot's ``MacroPlayer`` executor: each order becomes an action dict of this step's observation, while the
    step's budget and the bank (less what this step already ordered) allow."""

    game: FullGame
    player: int
    spec: Spec
    budget: int = 0
    actions: list[dict] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)

    def start(self, observed: FullObserved, budget: int) -> None:
        self.observed, self.budget, self.actions, self.taken = observed, budget, [], set()
        self.row_of = {int(s): r for r, s in enumerate(observed.row_to_slot.tolist())}
        first = len(observed.row_to_slot)
        self.source_row = {int(s): first + r for r, s in enumerate(observed.row_to_source.tolist())}
        bank = self.game.bank
        self.minerals, self.vespene = int(bank.minerals[self.player]), int(bank.vespene[self.player])
        used, cap = self.game.supply(self.player)
        self.supply_free = cap - used

    @property
    def full(self) -> bool:
        return len(self.actions) >= self.budget

    def issue(self, order: MacroOrder) -> bool:
        if self.full:
            return False
        rules, catalogue = self.game.rules, full_catalogue(self.game.rules)
        rows = [self.row_of.get(s) for s in order.units]
        if None in rows:
            return False
        action = make_action(0, rows[: self.spec.max_selected_units])
        if order.kind == "gather":
            target = self._gather_row(order.source)
            if target < 0:
                return False
            action.update(action_type=catalogue.index("Harvest_Gather_unit"), target_unit=target)
        else:
            item = rules.recipes.get(order.product) or rules.upgrades[order.product]
            supply = 0.0
            if order.product in rules.recipes and not rules.is_structure(order.product):
                supply = float(rules.units.supply[rules.units.type_index(order.product)]) * item.count
            if (item.cost.minerals > self.minerals or item.cost.vespene > self.vespene
                    or supply > self.supply_free + 1e-9):  # fmt: skip
                return False
            action["action_type"] = catalogue.product_index(order.product)
            if order.kind == "build":
                if getattr(item, "on_geyser", False):
                    target = self.source_row.get(self._geyser_at(order.site), -1)
                    if target < 0:
                        return False
                    action["target_unit"] = target
                else:
                    action["target_location"] = np.array(_cell(order.site, self.spec, self.game))
            self.minerals -= item.cost.minerals
            self.vespene -= item.cost.vespene
            self.supply_free -= supply
        if not self.observed.obs["available_actions"][action["action_type"]]:
            return False
        self.actions.append(action)
        self.taken.update(order.units)
        return True

    def _gather_row(self, source: int) -> int:
        g = self.game.gathering
        if g.vespene[source]:
            return self.row_of.get(int(g.building[source]), -1)
        return self.source_row.get(source, -1)

    def _geyser_at(self, site: tuple[float, float]) -> int:
        g = self.game.gathering
        d = np.hypot(*(g.field_pos - np.asarray(site)).T)
        d[~g.vespene] = np.inf
        return int(np.argmin(d))


class FullGameBot:
    """A full-game bot of ``level`` for ``player`` of ``game``; ``act(observed, spec)`` returns its action dicts."""

    def __init__(self, level: str, game: FullGame, player: int, seed: int = 0) -> None:
        if level not in FULL_GAME_LEVELS:
            raise ValueError(f"FullGameBot: unknown level {level!r}; expected one of {', '.join(FULL_GAME_LEVELS)}")
        self.config, self.game, self.player = FULL_GAME_LEVELS[level], game, int(player)
        rules = game.rules
        self.combat = Bot(LEVEL_CONFIGS[self.config.combat], player, seed, facts=_facts(rules))
        self.macro = MacroPlayer(game, player, self.config.style)
        self.steps, self.attacking, self.attack_size = 0, False, 0.0
        units = rules.units
        structure = (units.attributes & units.attribute_bit(STRUCTURE)) != 0
        workers = {units.type_index(r.worker) for r in rules.races.values()}
        army = (units.armed | units.healer) & (units.speed > 0) & ~structure
        army[list(workers)] = False
        size = int(max(units.sc2_id.max(), max(r.sc2_id for r in rules.resources.values()))) + 1
        self.is_army, self.is_structure = np.zeros(size, dtype=bool), np.zeros(size, dtype=bool)  # by type id
        self.is_army[units.sc2_id[army]] = True
        self.is_structure[units.sc2_id[structure]] = True
        self.supply_of = {int(units.sc2_id[t]): float(units.supply[t]) for t in np.flatnonzero(army)}
        st = game.engine.state
        home = st.pos[self.macro.home]
        centre = np.array([game.map.width, game.map.height]) / 2.0
        towards = (centre - home) / max(float(np.hypot(*(centre - home))), 1e-9)
        self.staging = home + towards * STAGING
        self.home = home
        self.unscouted = self._search_list()
        self.enemy_structure: np.ndarray | None = None
        self._marching_to: tuple[int, int] | None = None

    def _search_list(self) -> list[np.ndarray]:
        """Where to look for the enemy: the other start locations (nearest first), then every other base nearest
        to those starts first, then a sweep of the map on a SWEEP grid (a structure can stand anywhere)."""
        bases = [np.asarray(b.hall, dtype=np.float64) for b in self.game.map.bases]
        away = [b for b in bases if float(np.hypot(*(b - self.home))) > 1.0]
        starts = [np.asarray(self.game.map.bases[i].hall, dtype=np.float64) for i in self.game.map.starts]
        starts = sorted((s for s in starts if float(np.hypot(*(s - self.home))) > 1.0),
                        key=lambda s: float(np.hypot(*(s - self.home))))  # fmt: skip
        rest = [b for b in away if not any(np.array_equal(b, s) for s in starts)]
        rest.sort(key=lambda b: min(float(np.hypot(*(b - s))) for s in starts) if starts else 0.0)
        width, height = self.game.map.width, self.game.map.height
        grid = [np.array([x, y]) for y in np.arange(SWEEP / 2, height, SWEEP)
                for x in np.arange(SWEEP / 2, width, SWEEP)]  # fmt: skip
        last = (starts + rest)[-1] if starts + rest else self.home
        ordered = []
        while grid:  # nearest neighbour from the last base: one pass over the map
            i = int(np.argmin([float(np.hypot(*(g - last))) for g in grid]))
            last = grid.pop(i)
            ordered.append(last)
        return starts + rest + ordered

    def act(self, observed: FullObserved, spec: Spec) -> list[dict]:
        """This step's action dicts (at most ``spec.actions_per_step``; an empty list means no_op)."""
        step, self.steps = self.steps, self.steps + 1
        budget = spec.actions_per_step
        obs = observed.obs
        units, mask = obs["units"], obs["unit_mask"]
        own = mask & (units[:, C.alliance] == Alliance.self)
        enemy = mask & (units[:, C.alliance] == Alliance.enemy)
        types = units[:, C.unit_type].astype(np.intp)
        army = own & self.is_army[types]
        self._remember(units, enemy & self.is_structure[types], army)
        army_supply = sum(self.supply_of.get(int(t), 0.0) for t in units[army, C.unit_type])
        threat = self._threat(units, own & self.is_structure[types], enemy)
        if not self.attacking and army_supply >= self.config.attack_supply:
            self.attacking, self.attack_size = True, army_supply
        elif self.attacking and army_supply < REGROUP * self.attack_size:
            self.attacking = False
        actions: list[dict] = []
        fighting = army.any() and (threat or (self.attacking and enemy.any()))
        marching = army.any() and self.attacking and not enemy.any()
        if fighting:
            actions += self._fight(observed, spec, army, enemy, budget)
        elif marching and step % 4 == 0:
            actions += self._march(units, army, spec)
        if step % self.config.macro_every == 0 and len(actions) < budget:
            executor = _ActionOrders(self.game, self.player, spec)
            executor.start(observed, budget - len(actions))
            self.macro.executor = executor
            self.macro.act()
            actions += executor.actions
        if not (fighting or marching) and len(actions) < budget and step % 8 == 0:
            actions += self._gather(units, army, spec)
        return actions[:budget]

    def unplayed(self) -> None:
        """Its actions of this step were not played (it labels another player's steps: DAgger): forget the commands
        it remembers sending, so its next decision answers the units' actual orders instead of assuming its own."""
        self.combat.unplayed()
        self._marching_to = None

    def _remember(self, units: np.ndarray, seen: np.ndarray, army: np.ndarray) -> None:
        """Where to attack: the enemy structure it saw last (forgotten once an army unit stands there and sees none),
        the search points looked at (an army unit passed within SCOUTED)."""
        if seen.any():  # (seen: the visible enemy structures)
            self.enemy_structure = units[seen][:, [C.x, C.y]].astype(np.float64)[0]
        if not army.any():
            return
        where = units[army][:, [C.x, C.y]].astype(np.float64)

        def looked_at(points: np.ndarray) -> np.ndarray:
            gaps = np.hypot(points[:, None, 0] - where[None, :, 0], points[:, None, 1] - where[None, :, 1])
            return (gaps < SCOUTED).any(axis=1)

        if self.enemy_structure is not None and not seen.any() and looked_at(self.enemy_structure[None])[0]:
            self.enemy_structure = None  # destroyed
        if self.unscouted:
            seen_points = looked_at(np.array(self.unscouted))
            self.unscouted = [s for s, done in zip(self.unscouted, seen_points.tolist(), strict=True) if not done]

    def _target(self) -> np.ndarray:
        if self.enemy_structure is not None:
            return self.enemy_structure
        if not self.unscouted:  # looked everywhere: look again
            self.unscouted = self._search_list()
        return self.unscouted[0]

    def _march(self, units: np.ndarray, army: np.ndarray, spec: Spec) -> list[dict]:
        """No enemy in sight: the army attack-moves to the target (units already going there are left alone)."""
        cell = _cell(self._target(), spec, self.game)
        rows = np.flatnonzero(army)
        if cell == self._marching_to and not (units[rows, C.order_length] == 0).any():
            return []
        self._marching_to = cell
        return [make_action(ATTACK_MOVE, rows[: spec.max_selected_units], target_location=cell)]

    def _threat(self, units: np.ndarray, mine: np.ndarray, enemy: np.ndarray) -> bool:
        """Whether a visible enemy unit is within DEFEND_RADIUS of an own structure (``mine``)."""
        if not enemy.any() or not mine.any():
            return False
        a, b = units[mine][:, [C.x, C.y]], units[enemy][:, [C.x, C.y]]
        return bool((np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1]) < DEFEND_RADIUS).any())

    def _fight(self, observed: FullObserved, spec: Spec, army: np.ndarray, enemy: np.ndarray,
               budget: int) -> list[dict]:  # fmt: skip
        """The battle bot's actions for the army against the visible enemies, in the full observation's rows."""
        obs = observed.obs
        rows = np.concatenate([np.flatnonzero(army), np.flatnonzero(enemy)])
        units = np.zeros_like(obs["units"])
        units[: rows.size] = obs["units"][rows]
        mask = np.zeros_like(obs["unit_mask"])
        mask[: rows.size] = True
        self._marching_to = None
        self.combat.start = self.staging if self.combat.start is None else self.combat.start
        actions = self.combat.act({"units": units, "unit_mask": mask, "scalars": obs["scalars"]}, spec)
        out = []
        for action in actions[:budget]:
            if action["action_type"] == 0:
                continue
            action = dict(action)
            selected = np.array(action["selected_units"], copy=True)
            picked = selected >= 0
            selected[picked] = rows[selected[picked]]
            action["selected_units"] = selected
            if action["target_unit"] >= 0:
                action["target_unit"] = int(rows[action["target_unit"]])
            out.append(action)
        return out

    def _gather(self, units: np.ndarray, army: np.ndarray, spec: Spec) -> list[dict]:
        """Idle army units away from the staging point walk there (one action for all of them)."""
        far = army & (np.hypot(units[:, C.x] - self.staging[0], units[:, C.y] - self.staging[1]) > 6.0)
        far &= units[:, C.order_length] == 0
        if not far.any():
            return []
        rows = np.flatnonzero(far)[: spec.max_units]
        cell = _cell(self.staging, spec, self.game)
        return [make_action(ATTACK_MOVE, rows[: spec.max_selected_units], target_location=cell)]


def _cell(point, spec: Spec, game: FullGame) -> tuple[int, int]:
    r = spec.location_resolution
    x = min(max(int(float(point[0]) / game.map.width * r), 0), r - 1)
    y = min(max(int(float(point[1]) / game.map.height * r), 0), r - 1)
    return x, y


@functools.cache
def _facts(rules) -> UnitFacts:
    return UnitFacts.from_table(rules.units)
