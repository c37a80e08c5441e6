"""BatchedEngine: many Skirmish games in one state, stepped together, one compiled kernel per phase and loop.

Every game plays exactly as a single ``Engine`` would: for the same scenario, seed, commands and ``advance``
sizes, each game's ``state_hash(g)``, winner, loop and events equal the single engine's (tests check it over
every mechanic). The state is JaxMARL SMAX style: per-unit arrays ``[games, capacity]`` padded across scenario
sizes (padding slots are dead units), flattened to ``games x capacity`` slots for the phases.

Public API (an Engine with a games axis; ``g`` is a game index):

* ``BatchedEngine(scenarios, seeds, fog=False, units=None, capacity=None)``: one game per scenario and seed;
  ``capacity`` (units per game, default the largest scenario) bounds what ``reset_game`` may load later.
* ``issue(g, player, command)``: as ``Engine.issue`` for game g (engine indices are that game's slots).
* ``advance(loops, games=None)``: every running game (or those of ``games``) plays ``loops`` loops (fewer if it
  ends first); finished games do nothing until ``reset_game``; a game left out is paused: it continues later
  exactly as a single Engine would (its collision pairs and lazy-heal state are kept for it).
* ``done`` / ``winner`` / ``loop``: int arrays per game (``winner`` -1 while running, else 0 draw, 1 or 2).
* ``events(g)``: game g's ``(kind, attacker, target)`` events of the last ``advance``, as ``Engine.events``
  (empty for a game that call left out).
* ``game_state(g)``: a GameState whose arrays are views of game g's slots (writes go through; the same object
  until the slot is reset); ``visible(g, player)``, ``state_hash(g)`` as the Engine's.
* ``reset_game(g, scenario, seed, fog=None)``: load a new game into slot g (autoreset).
* ``load(g, engine)``: load a freshly built single ``Engine`` (loop 0) into slot g, keeping what was set on it
  (see_all, fog, orders issued, a full game's free slots, defeat rule and collision flags); returns the game's
  view. Code that builds matches stays as it is (``FullGame(batch=(engine, g))`` plays a full game in slot g).
* full games: ``spawn``, ``morph``, ``add_hp``, ``set_solid``, ``invalidate_caches``, ``solid``, ``roster_version``
  and ``defeat`` per game, as the Engine's operations of those names (structures collide hard, the structures
  defeat rule counts structures only); a view has them without the game index.
* ``game(g)``: a ``GameView``, an Engine-like object for game g (``state``, ``scenario``, ``units``, ``loop``,
  ``done``, ``winner``, ``events``, ``visible``, ``issue``, ``advance``, ``state_hash``, ``fog``, ``see_all``) so
  observation and action code written for Engine runs per game; it is replaced by ``reset_game`` and ``load``.

How identity survives batching: the phases of engine.py run on all games at once (kernels.py: numba loops doing
the numpy engine's float operations in its order), and every per-game decision
that changes values (closed-form regeneration syncs, lazy-heal windows, shield-regeneration starts, jitter draws
from each game's own generator, collision pair sets and their order) is taken per game, as masks over games.
Checks that only ever find nothing while the single engine skips them (rescans, leash, weapon and overlap
checks before their bounds) run every loop for every running game: they change nothing there. Hit, heal and
push sums run in each game's own order (combat.py sums per victim), so batching never regroups floating point
additions.

Where the time goes: Python here only sequences the phases (a dozen kernel calls a loop), so a loop costs about
its elements. Work that depends on one game's changes is redone on that game's rows only: behaviour arrays after
its orders, targets or deaths (``_dirty_g``), what depends on who is alive after its deaths, regeneration syncs of
the games behind. Scans read per-game candidate tables; collision pairs with a dead unit stay until their game's
next rebuild, skipped by the pushes; pushes and pair building compare squared distances before exact ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.skirmish import kernels
from envs.skirmish.commands import Command, Order
from envs.skirmish.engine import (
    ATTACK,
    DEATH,
    EVENT_KINDS,
    HEAL,
    JITTER_BATCH,
    PAIR_WINDOW,
    SPLASH,
    Engine,
    apply_command,
    clear_structures,
    exit_structures,
    forget_slot,
    game_hash,
    morph_slot,
    spawn_slot,
    structure_slots,
    visible_units,
)
from envs.skirmish.movement import _DENSE_BELOW
from envs.skirmish.scenario import Scenario
from envs.skirmish.slots import damage_table, order_tables, slot_params, slot_tables
from envs.skirmish.state import PADDING, QUEUE_LENGTH, GameState
from envs.skirmish.units import UnitTable, default_units

_IDLE, _MOVE, _ATTACK_MOVE, _ATTACK_UNIT, _HOLD, _FOLLOW = (int(o) for o in Order)
_EMPTY = np.empty(0, dtype=np.int64)
_any = np.count_nonzero  # on 1-D bool arrays: ndarray.any without its Python wrapper
_NO_FROZEN = np.zeros(0, dtype=bool)  # kernels without frozen units (or games with deaths)
_SCENARIO_CACHE = 8  # scenarios whose start state and slot tables a batch keeps


class GameView:
    """Engine-like view of one game of a BatchedEngine (see the module docstring); observation and action code
    that takes an Engine takes this."""

    def __init__(self, batch: BatchedEngine, g: int) -> None:
        self.batch, self.g = batch, g
        self.units = batch.units
        self.scenario = batch.scenarios[g]
        self.seed = batch.seeds[g]
        self.state = batch.game_state(g)

    @property
    def fog(self) -> bool:
        return self.batch.fog[self.g]

    @property
    def see_all(self) -> frozenset[int]:
        return self.batch.see_all[self.g]

    @see_all.setter
    def see_all(self, players: frozenset[int]) -> None:
        self.batch.see_all[self.g] = frozenset(players)

    @property
    def loop(self) -> int:
        return int(self.batch.loop[self.g])

    @property
    def done(self) -> bool:
        return bool(self.batch.winner[self.g] >= 0)  # (``batch.done`` would compare every game's)

    @property
    def winner(self) -> int | None:
        w = int(self.batch.winner[self.g])
        return None if w < 0 else w

    @property
    def events(self) -> list[tuple[str, int, int]]:
        return self.batch.events(self.g)

    def issue(self, player: int, command: Command) -> None:
        self.batch.issue(self.g, player, command)

    def advance(self, loops: int) -> None:
        """This game alone plays ``loops`` loops (the batch's other games pause)."""
        self.batch.advance(loops, [self.g])

    def visible(self, player: int) -> np.ndarray:
        return self.batch.visible(self.g, player)

    def state_hash(self) -> str:
        return self.batch.state_hash(self.g)

    # full games (see ``Engine``'s operations of the same names)

    @property
    def defeat(self) -> str:
        return self.batch.defeat[self.g]

    @property
    def solid(self) -> np.ndarray:
        return self.batch.solid(self.g)

    @property
    def roster_version(self) -> int:
        return int(self.batch.roster_version[self.g])

    @property
    def map_size(self) -> np.ndarray:
        return self.batch.map_size(self.g)

    def spawn(self, unit_type: str, owner: int, pos: tuple[float, float], facing: float = 0.0,
              hp_fraction: float = 1.0) -> int:  # fmt: skip
        return self.batch.spawn(self.g, unit_type, owner, pos, facing, hp_fraction)

    def morph(self, slot: int, unit_type: str, keep_orders: bool = False) -> None:
        self.batch.morph(self.g, slot, unit_type, keep_orders)

    def add_hp(self, slots: np.ndarray, amounts: np.ndarray) -> None:
        self.batch.add_hp(self.g, slots, amounts)

    def set_solid(self, slots: np.ndarray, solid: bool) -> None:
        self.batch.set_solid(self.g, slots, solid)

    def invalidate_caches(self) -> None:
        self.batch.invalidate_caches(self.g)


class BatchedEngine:
    """Many Skirmish games advanced together, each bit-identical to a single Engine (see the module docstring)."""

    def __init__(
        self,
        scenarios: Sequence[Scenario],
        seeds: Sequence[int],
        fog: bool | Sequence[bool] = False,
        units: UnitTable | None = None,
        capacity: int | None = None,
    ) -> None:
        scenarios = list(scenarios)
        seeds = [int(s) for s in seeds]
        if not scenarios:
            raise ValueError("BatchedEngine: scenarios must hold at least one scenario")
        if len(seeds) != len(scenarios):
            raise ValueError(f"BatchedEngine: {len(scenarios)} scenarios but {len(seeds)} seeds; expected one each")
        fogs = [bool(fog)] * len(scenarios) if isinstance(fog, bool) else [bool(f) for f in fog]
        if len(fogs) != len(scenarios):
            raise ValueError(f"BatchedEngine: fog has {len(fogs)} values for {len(scenarios)} games")
        self.units = units if units is not None else default_units()
        largest = max(len(s.placements) for s in scenarios)
        self.capacity = n = int(capacity) if capacity is not None else largest
        if n < largest:
            raise ValueError(f"BatchedEngine: capacity {n} is below the largest scenario's {largest} units")
        self.games = g = len(scenarios)
        template = GameState.from_scenario(scenarios[0], self.units)
        self.state = GameState(**{
            name: np.full((g, n, *a.shape[1:]), PADDING.get(name, 0), dtype=a.dtype)
            for name, a in template.arrays().items()
        })  # fmt: skip
        st = self.state
        # flat [games x capacity] views of the state (the vectorised phases index slots g * capacity + s)
        self._alive, self._owner, self._hp = st.alive.reshape(-1), st.owner.reshape(-1), st.hp.reshape(-1)
        self._shield, self._energy = st.shield.reshape(-1), st.energy.reshape(-1)
        self._target, self._stall = st.attack_target.reshape(-1), st.stall.reshape(-1)
        self._last_damage = st.last_damage_loop.reshape(-1)
        self._okind, self._ounit = st.order_kind.reshape(g * n, -1), st.order_unit.reshape(g * n, -1)
        self._opos, self._olen = st.order_pos.reshape(g * n, QUEUE_LENGTH, 2), st.order_len.reshape(-1)
        self._pos = st.pos.reshape(g * n, 2)
        self._z = st.pos.reshape(-1).view(np.complex128)
        self._idx = np.arange(g * n)
        self._gid = self._idx // n
        self._gbase = self._gid * n
        self._raw_table = damage_table(self.units)
        self._jitter = self.units.cooldown_jitter_loops
        params = slot_params(self.units, st.utype.reshape(-1))
        for name, value in params.items():
            setattr(self, "_" + name, value)
        self._kind_values, self._kind_wants, self._kind_base = order_tables(params)
        self._reach = self._r + PAIR_WINDOW * self._disp
        self._sh_max2, self._delay2 = self._per_game(self._sh_max), self._per_game(self._shield_delay)
        self._healer_in_batch = False
        # per game
        self.scenarios: list[Scenario] = list(scenarios)
        self.seeds = seeds
        self.fog = fogs
        self.see_all: list[frozenset[int]] = [frozenset()] * g
        self.loop = np.zeros(g, dtype=np.int64)
        self.winner = np.full(g, -1, dtype=np.int64)
        self._rngs: list[np.random.Generator] = [np.random.default_rng(0)] * g
        self._jbuf = np.zeros((g, JITTER_BATCH + 2 * n + 1))  # each game's drawn, unused jitter: [_jpos, _jend)
        self._jpos = np.zeros(g, dtype=np.int64)
        self._jend = np.zeros(g, dtype=np.int64)
        self._map = np.zeros((g, 1, 2))
        self._limit = np.zeros(g, dtype=np.int64)
        self._delay_min = np.zeros(g, dtype=np.int64)
        self._targeted = [{1: -1, 2: -1} for _ in range(g)]
        self._tables: dict[Scenario, tuple] = {}
        self._views: list[GameState | None] = [None] * g
        self._game_views: list[GameView | None] = [None] * g
        self._synced = np.zeros(g, dtype=np.int64)
        self._lazy = np.zeros(g, dtype=bool)  # lazy healing per game: rates in ``_sync`` for (heal_from, heal_until]
        self._heal_from = np.zeros(g, dtype=np.int64)
        self._heal_until = np.zeros(g, dtype=np.int64)
        self._heal_in = np.zeros(g * n)
        self._drain = np.zeros(g * n)
        self._heal_on = np.zeros(g * n, dtype=bool)
        self._heal_key = np.full(g * n, -1, dtype=np.int64)
        self._shield_next = np.full(g, np.inf)
        self._next_scan = np.zeros(g * n, dtype=np.int64)
        self._pairs_until = np.full(g, -1, dtype=np.int64)
        self._pi = self._pj = _EMPTY
        self._rsum = np.empty(0)
        self._parked = (_EMPTY, _EMPTY, np.empty(0))  # (pi, pj, rsum) of paused games
        self._ready = np.zeros(g * n)
        self._heading = np.zeros(g * n, dtype=np.complex128)
        self._run = np.zeros(g, dtype=bool)
        self._run_u = np.zeros(g * n, dtype=bool)
        self._c1, self._c2 = np.zeros(g, dtype=np.int64), np.zeros(g, dtype=np.int64)  # living units per side
        self._stalemate = np.zeros(g, dtype=bool)
        self._hpr, self._shr, self._enr = np.zeros(g * n), np.zeros(g * n), np.zeros(g * n)  # regen of the living
        # scan candidates per game (rebuilt after deaths): the living units' columns in slot order, then the dead
        # (Engine's ``_alive_idx``, padded), their flat slots and radii, and which of them each kind of scanner may
        # attack ([games, 8, capacity], by ``_scan_code``) or heal ([games, 2, capacity], by owner - 1)
        self._alive_cols, self._cand = np.zeros((g, n), dtype=np.int64), np.zeros((g, n), dtype=np.int64)
        self._cand_r = np.zeros((g, n))
        self._hittable, self._healable = np.zeros((g, 8, n), dtype=bool), np.zeros((g, 2, n), dtype=bool)
        self._scan_code = np.zeros(g * n, dtype=np.int64)  # (owner == 2) * 4 + hits_air * 2 + hits_ground per slot
        self._inv_closing, self._crowd_u, self._crowd_reach = np.zeros(g * n), np.zeros(g * n), np.zeros(g * n)
        self._dirty_g = np.ones(g, dtype=bool)  # games whose behaviour rows ``_refresh`` must rebuild
        self._changed, self._heal_games = np.zeros(g, dtype=bool), np.zeros(g, dtype=bool)  # kernel scratch
        self._scanners = np.zeros(g * n, dtype=np.int64)
        self._onj, self._oni = np.zeros(g * n, dtype=np.complex128), np.zeros(g * n, dtype=np.complex128)
        self._touched, self._touched_mask = np.zeros(g * n, dtype=np.int64), np.zeros(g * n, dtype=bool)
        self._dz, self._d = np.zeros(g * n, dtype=np.complex128), np.zeros(g * n)
        self._fire_buf, self._fire_games = np.zeros(g * n, dtype=np.int64), np.zeros(g, dtype=bool)
        self._fire_counts = np.zeros(g, dtype=np.int64)
        # full games: which units collide, which are structures, which count for defeat; each game's rule and slots
        self._solid = np.ones(g * n, dtype=bool)
        self._structure = np.zeros(g * n, dtype=bool)
        self._counted = np.ones(g * n, dtype=bool)
        self.defeat: list[str] = ["units"] * g
        self._by_structures = np.zeros(g, dtype=bool)
        self.roster_version = np.zeros(g, dtype=np.int64)
        self._slots = [0] * g
        self._box = (None, _EMPTY, _EMPTY)  # (the pairs it was built from, unit, structure): unit-structure pairs
        self._behaviour_rows()
        self._chunks: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._events: list[list[tuple[str, int, int]]] | None = None
        for k in range(g):
            self._load(k, scenarios[k], seeds[k])
        self._alive_changed()
        self._next_shield_regen(np.ones(g, dtype=bool))
        self._check_done(np.ones(g, dtype=bool))

    # ------------------------------------------------------------------ public API

    @property
    def done(self) -> np.ndarray:
        """bool [games]: which games have ended."""
        return self.winner >= 0

    def game_state(self, g: int) -> GameState:
        """Game g's state as views into the batch arrays (its own slots only)."""
        self._check_game(g)
        view = self._views[g]
        if view is None:
            n = self._slots[g]
            view = GameState(**{name: a[g, :n] for name, a in self.state.arrays().items()})
            self._views[g] = view
        return view

    def game(self, g: int) -> GameView:
        """An Engine-like view of game g (replaced when the slot is reset)."""
        self._check_game(g)
        view = self._game_views[g]
        if view is None:
            view = self._game_views[g] = GameView(self, g)
        return view

    def reset_game(self, g: int, scenario: Scenario, seed: int, fog: bool | None = None) -> None:
        """Load ``scenario`` with ``seed`` into slot g as a new game at loop 0 (the other games are untouched)."""
        self._check_game(g)
        if len(scenario.placements) > self.capacity:
            raise ValueError(f"reset_game: scenario {scenario.name!r} has {len(scenario.placements)} units; "
                             f"this batch holds at most {self.capacity} per game")  # fmt: skip
        if fog is not None:
            self.fog[g] = bool(fog)
        self.see_all[g] = frozenset()
        self._load(g, scenario, int(seed))
        self._loaded(g)

    def load(self, g: int, engine: Engine) -> GameView:
        """Put ``engine``, a single game at loop 0 (built, not yet advanced), into slot g: its state (orders issued
        included), fog, see_all and generator state; returns game g's view, which plays on as ``engine`` would."""
        self._check_game(g)
        if engine.loop != 0:
            raise ValueError(f"load: the engine must be at loop 0 (a game not yet advanced), got loop {engine.loop}")
        if engine.units is not self.units:
            raise ValueError("load: the engine's unit table is not this batch's (both must use the same UnitTable)")
        if engine.state.n > self.capacity:
            raise ValueError(f"load: scenario {engine.scenario.name!r} has {engine.state.n} slots; "
                             f"this batch holds at most {self.capacity} per game")  # fmt: skip
        self.fog[g] = bool(engine.fog)
        self._load(g, engine.scenario, engine.seed, engine.state, engine.defeat)
        self._solid[g * self.capacity : g * self.capacity + engine.state.n] = engine.solid
        self.roster_version[g] = engine.roster_version
        self.see_all[g] = frozenset(engine.see_all)
        self._rngs[g].bit_generator.state = engine.rng.bit_generator.state  # (no jitter is drawn before loop 1)
        self._targeted[g] = dict(engine._targeted)
        self._loaded(g)
        return self.game(g)

    def issue(self, g: int, player: int, command: Command) -> None:
        """Give ``command`` to ``player``'s units in game g, as ``Engine.issue``."""
        st = self.game_state(g)
        base = g * self.capacity
        if apply_command(st, player, command, self._map[g, 0], self._targeted[g], self._next_scan[base : base + st.n]):
            self._dirty_g[g] = True

    def visible(self, g: int, player: int) -> np.ndarray:
        """bool [n]: the units of game g that ``player`` sees, as ``Engine.visible``."""
        st = self.game_state(g)
        sl = slice(g * self.capacity, g * self.capacity + st.n)
        return visible_units(st, self._r[sl], self._sight[sl], player, self.fog[g] and player not in self.see_all[g])

    def state_hash(self, g: int) -> str:
        """Game g's state hash, equal to ``Engine.state_hash`` of the same game."""
        st = self.game_state(g)
        return game_hash(int(self.loop[g]), self._rngs[g], self._jbuf[g, self._jpos[g] : self._jend[g]], st)

    def events(self, g: int) -> list[tuple[str, int, int]]:
        """Game g's events of the last ``advance``, as ``Engine.events`` (engine indices of game g)."""
        self._check_game(g)
        if self._events is None:
            self._events = self._split_events()
        return self._events[g]

    def advance(self, loops: int | np.ndarray, games: Sequence[int] | np.ndarray | None = None) -> None:
        """Every running game (of ``games``: indices or a bool mask, default all) plays ``loops`` game loops (fewer
        if it ends first); the others pause. ``loops`` may also be one count per game (int array [games], 0: the
        game pauses): each game plays its own count, exactly as one ``advance`` of that many loops of its own (a game
        that is done pauses until the longest is)."""
        self._chunks = []
        self._events = None
        started = self.winner < 0
        if isinstance(loops, np.ndarray):
            if loops.shape != (self.games,) or loops.dtype.kind not in "iu" or (loops.size and loops.min() < 0):
                raise ValueError(f"advance: per-game loops must be {self.games} non-negative ints, got {loops!r}")
            remaining = loops.astype(np.int64)
            started &= remaining > 0
            loops = int(remaining.max())
        elif isinstance(loops, bool) or not isinstance(loops, int | np.integer) or loops < 0:
            raise ValueError(f"advance: loops must be a non-negative int, got {loops!r}")
        else:
            remaining = None
        if games is not None:
            started &= self._game_mask(games)
        if loops == 0 or not _any(started):
            return
        self._set_running(started)
        n = self.capacity
        st = self.state
        self._ready = (self.loop[:, None] + st.cooldown).reshape(-1)
        self._synced = self.loop.copy()
        self._heading = np.zeros(self.games * n, dtype=np.complex128)
        self._t = self.loop + 1
        self._tu = np.repeat(self._t, n)
        for _ in range(int(loops)):
            self._step()
            ended = kernels.end_loop(self.loop, self._run, self._c1, self._c2, self._stalemate, self._limit,
                                     self.winner, self._t, self._tu, n)  # fmt: skip
            if remaining is not None:
                remaining -= self._run
                if _any(self._run & (remaining <= 0)):
                    ended = True  # (its count played: it pauses, and ends its advance with the others)
            if ended:
                self._set_running(self._run & (self.winner < 0) & (True if remaining is None else remaining > 0))
                if not _any(self._run):
                    break
        self._sync(started)
        cooldown = np.maximum(self._ready.reshape(self.games, n) - self.loop[:, None], 0.0)
        st.cooldown[started] = cooldown[started]
        turned = self._heading != 0.0
        st.facing.reshape(-1)[turned] = np.angle(self._heading[turned])

    # ------------------------------------------------------------------ full games: units come and change

    def solid(self, g: int) -> np.ndarray:
        """bool [n]: game g's units that collide (a view: ``Engine.solid``)."""
        self._check_game(g)
        return self._solid[g * self.capacity : g * self.capacity + self._slots[g]]

    def map_size(self, g: int) -> np.ndarray:
        """Game g's [width, height] (``Engine.map_size``)."""
        return self._map[g, 0]

    def spawn(self, g: int, unit_type: str, owner: int, pos: tuple[float, float], facing: float = 0.0,
              hp_fraction: float = 1.0) -> int:  # fmt: skip
        """``Engine.spawn`` in game g: a new unit in its lowest free slot, between two ``advance`` calls."""
        if self.winner[g] >= 0:
            raise RuntimeError("spawn: the game has ended")
        slot = spawn_slot(self.game_state(g), self.units, unit_type, owner, pos, self._map[g, 0], facing, hp_fraction,
                          lambda s: self._forget(g, s))  # fmt: skip
        self._solid[g * self.capacity + slot] = True
        self._types_changed(g)
        return slot

    def morph(self, g: int, slot: int, unit_type: str, keep_orders: bool = False) -> None:
        """``Engine.morph`` in game g: a living unit becomes another type in place."""
        morph_slot(self.game_state(g), slot, self.units, unit_type, keep_orders)
        self._types_changed(g)

    def add_hp(self, g: int, slots: np.ndarray, amounts: np.ndarray) -> None:
        """``Engine.add_hp`` in game g: hp added to living units, capped at their maximum."""
        st = self.game_state(g)
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        amounts = np.broadcast_to(np.asarray(amounts, dtype=np.float64), slots.shape)
        if slots.size and (slots.min() < 0 or slots.max() >= st.n or not st.alive[slots].all()):
            raise ValueError(f"add_hp: slots must hold living units, got {slots.tolist()}")
        if np.any(amounts < 0):
            raise ValueError("add_hp: amounts must be >= 0")
        np.add.at(st.hp, slots, amounts)
        base = g * self.capacity
        np.minimum(st.hp, self._hp_max[base : base + st.n], out=st.hp)
        self.invalidate_caches(g)

    def set_solid(self, g: int, slots: np.ndarray, solid: bool) -> None:
        """``Engine.set_solid`` in game g: units collide or not."""
        n = self._slots[g]
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        if slots.size and (slots.min() < 0 or slots.max() >= n):
            raise ValueError(f"set_solid: slots must be in [0, {n}), got {slots.tolist()}")
        flags = self.solid(g)
        if bool(np.any(flags[slots] != solid)):
            flags[slots] = solid
            self._pairs_until[g] = -1  # rebuild game g's collision pairs at its next loop
            if solid:
                self._eject(g)

    def invalidate_caches(self, g: int) -> None:
        """``Engine.invalidate_caches`` for game g: forget what was derived from its state (after direct edits)."""
        self._check_game(g)
        sl = slice(g * self.capacity, (g + 1) * self.capacity)
        self._next_scan[sl] = 0
        self._pairs_until[g] = -1
        self._heal_in[sl] = 0.0
        self._drain[sl] = 0.0
        self._heal_on[sl] = False
        self._heal_key[sl] = -1
        self._lazy[g] = False
        self._dirty_g[g] = True
        games = np.zeros(self.games, dtype=bool)
        games[g] = True
        self._alive_changed(games)
        self._next_shield_regen(games)

    def _forget(self, g: int, slot: int) -> None:
        """Game g's units drop every order and target on ``slot`` (``forget_slot``); those whose current order
        changed restart it (Engine._start)."""
        st = self.game_state(g)
        for u in forget_slot(st, slot, self._targeted[g]):
            kind = st.order_kind[u, 0]
            st.attack_target[u] = st.order_unit[u, 0] if kind == _ATTACK_UNIT else -1
            st.stall[u] = 0
            self._next_scan[g * self.capacity + u] = 0
        self._dirty_g[g] = True

    def _types_changed(self, g: int) -> None:
        self.roster_version[g] += 1
        self._retype(g)
        self.invalidate_caches(g)
        self._eject(g)
        games = np.zeros(self.games, dtype=bool)
        games[g] = True
        self._check_done(games)

    def _eject(self, g: int) -> None:
        """Engine._eject for game g: solid mobile ground units standing in a footprint move out of it."""
        sl = slice(g * self.capacity, (g + 1) * self.capacity)
        movers = np.flatnonzero(self._alive[sl] & ~self._air[sl] & self._can_move[sl] & self._solid[sl])
        if self._exit_structures(g, movers + g * self.capacity):
            self.invalidate_caches(g)

    # ------------------------------------------------------------------ setup

    def _check_game(self, g: int) -> None:
        if type(g) is int and 0 <= g < self.games:  # the usual case first: a plain int in range
            return
        if isinstance(g, bool) or not isinstance(g, int | np.integer) or not 0 <= g < self.games:
            raise ValueError(f"game index must be an int in [0, {self.games}), got {g!r}")

    def _game_mask(self, games: Sequence[int] | np.ndarray) -> np.ndarray:
        """bool [games] from game indices or a bool mask (checked)."""
        games = np.asarray(games)
        if games.dtype == np.bool_ and games.shape == (self.games,):
            return games
        if games.ndim != 1 or (games.size and (games.dtype.kind not in "iu" or games.min() < 0
                                               or games.max() >= self.games)):  # fmt: skip
            raise ValueError(f"advance: games must be indices in [0, {self.games}) or a bool mask of {self.games}, "
                             f"got {games!r}")  # fmt: skip
        mask = np.zeros(self.games, dtype=bool)
        mask[games] = True
        return mask

    def _load(self, g: int, scenario: Scenario, seed: int, fresh: GameState | None = None,
              defeat: str = "units") -> None:  # fmt: skip
        """Write a fresh game (``fresh``, default the scenario's start) into slot g: state rows, per-slot stats,
        per-game scalars and caches."""
        cap = self.capacity
        if fresh is None:
            fresh, params, values, wants, delay_min = self._scenario_tables(scenario)
            tables = (params, values, wants, delay_min)
        else:
            tables = None
        n = self._slots[g] = fresh.n
        for name, a in self.state.arrays().items():
            a[g] = PADDING.get(name, 0)
            a[g, :n] = getattr(fresh, name)
        self.defeat[g] = defeat
        self._by_structures[g] = defeat == "structures"
        self._solid[g * cap : (g + 1) * cap] = True
        self.roster_version[g] = 0
        self._retype(g, tables)
        self.scenarios[g], self.seeds[g] = scenario, seed
        self._rngs[g] = np.random.default_rng(seed)
        self._jpos[g] = self._jend[g] = 0
        self._map[g, 0] = (scenario.map_width, scenario.map_height)
        self._limit[g] = scenario.time_limit_loops
        self._targeted[g] = {1: -1, 2: -1}
        self._views[g] = self._game_views[g] = None
        self.loop[g] = 0
        self.winner[g] = -1
        self._synced[g] = 0
        self._lazy[g] = False
        sl = slice(g * cap, (g + 1) * cap)
        self._heal_in[sl] = 0.0
        self._drain[sl] = 0.0
        self._heal_on[sl] = False
        self._heal_key[sl] = -1
        self._next_scan[sl] = 0
        self._pairs_until[g] = -1
        self._drop_pairs(self._gid[self._pi] == g)
        parked = self._parked
        self._parked = tuple(a[self._gid[parked[0]] != g] for a in parked)

    def _scenario_tables(self, scenario: Scenario) -> tuple[GameState, dict[str, np.ndarray], np.ndarray, np.ndarray,
                                                            int]:  # fmt: skip
        """A scenario's start state and the static tables of a slot row holding it (per-slot stats, order tables,
        shortest shield delay), kept for the last _SCENARIO_CACHE scenarios: autoreset loads the same ones again."""
        tables = self._tables.pop(scenario, None)
        if tables is None:
            start = GameState.from_scenario(scenario, self.units)
            utype = np.zeros(self.capacity, dtype=start.utype.dtype)
            utype[: start.n] = start.utype
            row = slot_tables(self.units, utype)
            tables = (start, row.params, row.kind_values, row.kind_wants, row.shield_delay_min)
            if len(self._tables) >= _SCENARIO_CACHE:
                del self._tables[next(iter(self._tables))]
        self._tables[scenario] = tables  # (most recent last)
        return tables

    def _retype(self, g: int, tables: tuple | None = None) -> None:
        """Game g's per-slot stats from its unit types (``tables``: the scenario's, when it is at its start)."""
        cap = self.capacity
        if tables is None:
            row = slot_tables(self.units, self.state.utype[g])
            tables = (row.params, row.kind_values, row.kind_wants, row.shield_delay_min)
        params, values, wants, delay_min = tables
        sl = slice(g * cap, (g + 1) * cap)
        for name, value in params.items():
            getattr(self, "_" + name)[sl] = value
        kinds = len(Order)
        self._kind_values[:, g * cap * kinds : (g + 1) * cap * kinds] = values
        self._kind_wants[g * cap * kinds : (g + 1) * cap * kinds] = wants
        self._reach[sl] = self._r[sl] + PAIR_WINDOW * self._disp[sl]
        self._scan_code[sl] = (self.state.owner[g] == 2) * 4 + self._hits_air[sl] * 2 + self._hits_ground[sl]
        self._healer_in_batch = bool(np.count_nonzero(self._healer))
        self._delay_min[g] = delay_min
        self._structure[sl] = structure_slots(self.units, self.state.utype[g])
        self._counted[sl] = self._structure[sl] if self._by_structures[g] else True

    def _loaded(self, g: int) -> None:
        """After ``_load`` into slot g: what depends on the new state (alive sets, shield regeneration, game end)."""
        games = np.zeros(self.games, dtype=bool)
        games[g] = True
        self._alive_changed(games)
        self._next_shield_regen(games)
        self._check_done(games)
        self._dirty_g[g] = True

    def _set_running(self, run: np.ndarray) -> None:
        """Which games step: the rest are frozen (masked out of every phase); the collision pairs of finished
        games are dropped, those of paused ones parked until they run again (in their order: pushes sum alike)."""
        self._dirty_g |= run != self._run
        self._run = run.copy()
        self._run_u = np.repeat(run, self.capacity)
        parked = self._parked
        if parked[0].size:
            back = run[self._gid[parked[0]]]
            if _any(back):
                self._pi, self._pj, self._rsum = (
                    np.concatenate((a, p[back])) for a, p in zip(self._pairs(), parked, strict=True))
                self._parked = tuple(p[~back] for p in parked)
        idle = ~run[self._gid[self._pi]]
        pause = idle & (self.winner[self._gid[self._pi]] < 0)
        if _any(pause):
            pairs = zip(self._parked, self._pairs(), strict=True)
            self._parked = tuple(np.concatenate((p, a[pause])) for p, a in pairs)
        self._drop_pairs(idle)

    def _pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._pi, self._pj, self._rsum

    def _drop_pairs(self, drop: np.ndarray) -> None:
        if np.count_nonzero(drop):
            keep = ~drop
            self._pi, self._pj, self._rsum = self._pi[keep], self._pj[keep], self._rsum[keep]

    def _per_game(self, flat: np.ndarray) -> np.ndarray:
        """[games x capacity] -> [games, capacity] (a view)."""
        return flat.reshape(self.games, self.capacity)

    def _alive_changed(self, games: np.ndarray | None = None) -> None:
        """Recompute what depends on who is alive for ``games`` (bool mask, default all; a function of each game's
        state alone). Collision pairs with a dead unit stay until their game's next rebuild; kernels.move skips them
        (as it skips every pair that does not overlap: those push by exactly zero)."""
        self._healer_slots, self._healer_side = kernels.alive_changed(  # living healers, game x 3 + owner
            np.arange(self.games) if games is None else games.nonzero()[0], self.capacity, self._alive,
            self._owner, self._air, self._hits_air, self._hits_ground, self._armed, self._bio, self._r, self._disp,
            self._speed, self._hp_regen_rate, self._sh_regen_rate, self._en_regen_rate, self._gbase, self._c1,
            self._c2, self._stalemate, self._hpr, self._shr, self._enr, self._alive_cols, self._cand, self._cand_r,
            self._hittable, self._healable, self._inv_closing, self._crowd_u, self._crowd_reach, self._healer,
            self._counted, self._by_structures,
        )  # fmt: skip

    def _check_done(self, games: np.ndarray) -> np.ndarray:
        """End ``games`` that are over (as Engine._check_done); returns the games that ended now."""
        ended = games & (self.winner < 0)
        kernels.check_done(games, self.loop, self._c1, self._c2, self._stalemate, self._limit, self.winner)
        ended &= self.winner >= 0
        return ended

    # ------------------------------------------------------------------ orders

    def _behaviour_rows(self) -> None:
        """Allocate the per-unit behaviour arrays that ``_refresh`` rebuilds row by row (per game)."""
        size = self._idx.size
        for name in ("_has_point", "_mobile", "_wants", "_shoot", "_idle_armed", "_has_t", "_healing"):
            setattr(self, name, np.zeros(size, dtype=bool))
        for name in ("_stop", "_stop_eps", "_weight", "_scan_range", "_leash_hi", "_leash_lo", "_fire_hi",
                     "_fire_lo", "_heal_hi"):  # fmt: skip
            setattr(self, name, np.zeros(size))
        self._gu = self._idx.copy()
        self._pz = np.zeros(size, dtype=np.complex128)
        self._pz2 = self._pz.view(np.float64).reshape(size, 2)
        self._heal_idx = _EMPTY

    def _refresh(self) -> None:
        """Rebuild the per-unit behaviour arrays from orders and targets for the games marked in ``_dirty_g``
        (as Engine._refresh; the other games' rows are what a rebuild would give again: none of their orders,
        targets, deaths or running state changed since their last one)."""
        changed = self._changed
        changed[:] = False
        kernels.refresh(
            self._dirty_g.nonzero()[0], self.capacity, self._alive, self._run_u, self._okind, self._ounit, self._opos,
            self._olen, self._target, self._stall, self._next_scan, self._lazy, self._heal_key, self._r,
            self._target_gap, self._can_move, self._kind_base, self._kind_wants, self._kind_values, self._strike,
            self._min_range, self._heal_range, self._armed, self._air, self._hits_air, self._hits_ground,
            self._healer, self._gu, self._stop, self._stop_eps, self._has_point, self._pz2, self._mobile,
            self._weight, self._wants, self._scan_range, self._leash_hi, self._leash_lo, self._fire_hi,
            self._fire_lo, self._heal_hi, self._shoot, self._healing, self._has_t, self._idle_armed, changed,
        )  # fmt: skip
        if _any(changed):  # lazy heals that assumed other healers or targets: settle them
            self._sync(changed)
            self._heal_stop(changed)
        (self._heal_idx, self._heal_tgt, self._heal_hi_h, self._heal_rate_h, self._heal_cost_h, self._heal_max_t,
         self._heal_unique) = kernels.healer_rows(self._healing, self._gu, self._heal_hi, self._heal_rate,
                                                  self._heal_cost, self._hp_max, self._gid, self.games)  # fmt: skip
        self._any_target = _any(self._has_t) > 0
        self._any_shoot = _any(self._shoot) > 0
        self._dirty_g[:] = False

    # ------------------------------------------------------------------ one loop

    def _step(self) -> None:
        if _any(self._dirty_g):
            self._refresh()
        self._pi, self._pj, self._rsum = kernels.build_pairs(  # collision candidates of the games due
            self._run, self._t, self._pairs_until, PAIR_WINDOW, self.capacity, self._alive, self._air, self._solid,
            self._z, self._reach, self._can_move, self._r, self._pi, self._pj, self._rsum, _DENSE_BELOW,
        )  # fmt: skip
        heal_games = self._heal_games
        heal_games[:] = False
        count = kernels.geometry_leash_due(
            self._z, self._gu, self._pz, self._has_point, self._dz, self._d, self._any_target, self._leash_hi,
            self._leash_lo, self._target, self._dirty_g, self.capacity, self._wants, self._next_scan, self._tu,
            self._healer, self._scanners, heal_games,
        )  # fmt: skip
        if count:
            if _any(heal_games):  # healers read current hp
                self._sync(heal_games)
            kernels.scan(
                self._scanners[:count], self._gid, self._z, self._r, self._owner, self._armed, self._healer,
                self._cand, self._cand_r, self._alive_cols, self._hittable, self._healable, self._scan_code,
                self._scan_range, self._min_range, self._hp, self._hp_max, self._okind, self._ounit, self._gbase,
                self._inv_closing, self._tu, self._target, self._next_scan, self._dirty_g,
            )  # fmt: skip
        if _any(self._dirty_g):  # targets found by the scans or dropped by the leash
            self._refresh()
            self._geometry()
        frozen, killed = self._fire() if self._any_shoot else (None, None)
        if self._heal_idx.size:
            self._heal(frozen, killed)
        self._move(frozen)

    def _geometry(self) -> None:
        """Vector (complex) and distance from every unit to its goal (goal unit, goal point, or itself: zero)."""
        kernels.geometry(self._z, self._gu, self._pz, self._has_point, self._dz, self._d)

    def _fire(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Fire every ready weapon whose target is in range (kernels.fire_due, kernels.volley); returns (units that
        must not move this loop, games with deaths this loop), both None when nothing died."""
        games, counts = self._fire_games, self._fire_counts
        games[:] = False
        counts[:] = 0
        k = kernels.fire_due(self._shoot, self._ready, self._tu, self._d, self._fire_hi, self._fire_lo,
                             self.capacity, self._fire_buf, games, counts)  # fmt: skip
        if k == 0:
            return None, None
        fire = self._fire_buf[:k].copy()
        self._sync(games)
        jitter = self._jitter > 0.0
        if jitter:  # each game's generator draws JITTER_BATCH more (and what this loop needs) when it runs short
            for g in (self._jend - self._jpos < counts).nonzero()[0]:
                rest = self._jbuf[g, self._jpos[g] : self._jend[g]]
                fresh = self._rngs[g].uniform(-self._jitter, self._jitter, JITTER_BATCH + int(counts[g]))
                both = np.concatenate((rest, fresh))
                self._jbuf[g, : both.size] = both
                self._jpos[g], self._jend[g] = 0, both.size
        primary, s_att, s_vic, dead, killers = kernels.volley(
            fire, counts, self.capacity, self._gid, self._gbase, self._tu, self._t, self._ready, self._period, jitter,
            self._jbuf, self._jpos, self._heading, self._dz, self._target, self._plain, self._suicide,
            self._splash_at_attacker, self._attacks, self._splashes, self._splash_r, self._splash_f,
            self._splash_friendly, self._cand, self._z, self._r, self._air, self._hits_air, self._hits_ground,
            self._alive, self._owner, self._ut, self._raw_table, self._shield, self._armor, self._hp,
            self._last_damage, self._shield_next, self._delay_min, self._healer_in_batch, self._bio,
            self._healer_slots, self._healer_side, self._next_scan, self._idle_armed, self._dirty_g,
        )  # fmt: skip
        self._chunks.append((ATTACK, fire, primary))
        if s_att.size:
            self._chunks.append((SPLASH, s_att, s_vic))
        if dead.size == 0:
            return None, None
        return self._kill(dead, killers)

    def _kill(self, dead: np.ndarray, killers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remove ``dead`` from play; units targeting them lose the target. Returns (frozen units, games)."""
        self._chunks.append((DEATH, killers, dead))
        frozen, games = kernels.kill(
            dead, self.capacity, self._gid, self._gbase, self._alive, self._hp, self._shield, self._okind,
            self._ounit, self._olen, self._target, self._next_scan, self._tu, self._lazy, self._heal_idx,
            self._heal_tgt, self._heal_in, self._drain, self._gu, self._dirty_g,
        )  # fmt: skip
        self._alive_changed(games)
        return frozen, games

    def _heal(self, frozen: np.ndarray | None, killed: np.ndarray | None) -> None:
        """Healers heal their targets for this loop: exactly, or by the lazy rates while those are known safe
        (kernels.heal)."""
        lazy_h, lazy_t, heal_h, heal_t = kernels.heal(
            self._heal_idx, self._heal_tgt, self._heal_hi_h, self._heal_rate_h, self._heal_cost_h, self._heal_max_t,
            self._heal_unique, self._gid, self.capacity, self._d, self._t, self._tu,
            _NO_FROZEN if frozen is None else frozen, frozen is not None, _NO_FROZEN if killed is None else killed,
            killed is not None, self._alive, self._lazy, self._heal_until, self._heal_from, self._heal_on,
            self._heal_in, self._drain, self.loop, self._synced, self._shield_next, self._hp, self._energy,
            self._shield, self._hpr, self._enr, self._shr, self._hp_max, self._en_max, self._sh_max,
            self._last_damage, self._shield_delay, self._target, self._next_scan, self._dirty_g,
        )  # fmt: skip
        if lazy_h.size:
            self._chunks.append((HEAL, lazy_h, lazy_t))
        if heal_h.size:
            self._chunks.append((HEAL, heal_h, heal_t))

    def _heal_stop(self, games: np.ndarray) -> None:
        """End lazy healing in ``games`` (after ``_sync`` has applied it up to the current loop)."""
        kernels.heal_stop(games, self.capacity, self._heal_in, self._drain, self._lazy)

    def _move(self, frozen: np.ndarray | None) -> None:
        """Steps and collision pushes (kernels.move), hard collision with structures (under either defeat rule, as
        in the Engine), then the map clamp and finished point orders (kernels.settle)."""
        frozen_u = _NO_FROZEN if frozen is None else frozen
        moved = kernels.move(
            self._z, self._d, self._dz, self._stop, self._stop_eps, self._speed, self._mobile, frozen_u,
            frozen is not None, self._heading, self._alive, self._pi, self._pj, self._rsum, self._weight,
            self._push_cap, self._onj, self._oni, self._touched, self._touched_mask,
        )  # fmt: skip
        if _any(self._structure) and self._clear_structures():
            moved = True
        kernels.settle(
            moved, self._z, self._d, self._speed, self._mobile, self._stop_eps, frozen_u, frozen is not None,
            self._pos, self._map[:, 0], self.capacity, self._has_point, self._crowd_reach, self._crowd_u, self._pz,
            self._stall, self._okind, self._ounit, self._opos, self._olen, self._target, self._next_scan,
            self._dirty_g,
        )  # fmt: skip

    def _clear_structures(self) -> bool:
        """Engine._clear_structures for every game at once (each unit-structure pair is one game's; the pairs keep
        each game's order), then each game's trapped units leave by ``exit_structures``."""
        built_from, box_m, box_s = self._box
        if built_from is not self._pi:  # the pairs changed: their unit-structure pairs, in pair order
            one = self._structure[self._pi] != self._structure[self._pj]
            first = self._structure[self._pi[one]]
            box_s = np.where(first, self._pi[one], self._pj[one])
            box_m = np.where(first, self._pj[one], self._pi[one])
            self._box = (self._pi, box_m, box_s)
        if not box_m.size:
            return False
        moved = clear_structures(self._z, box_m, box_s, self._r, self._alive, self._solid, self._can_move)
        if moved is None:
            return False
        games = self._gid[moved]
        for g in np.unique(games).tolist():
            self._exit_structures(g, moved[games == g])
        return True

    def _exit_structures(self, g: int, movers: np.ndarray) -> bool:
        """``exit_structures`` for game g's ``movers`` (flat slots) against its living structures."""
        sl = slice(g * self.capacity, (g + 1) * self.capacity)
        structures = np.flatnonzero(self._alive[sl] & self._structure[sl]) + g * self.capacity
        return exit_structures(movers, structures, self._pos, self._r, self._map[g, 0])

    def _sync(self, games: np.ndarray) -> None:
        """Engine._sync for ``games`` (bool mask): hp / shield / energy regeneration (and lazy healing) up to each
        game's current loop, in closed form, on the rows of the games behind; the others are untouched."""
        kernels.sync(
            games, self.loop, self._synced, self._lazy, self._heal_from, self._shield_next, self.capacity, self._hp,
            self._energy, self._shield, self._hpr, self._enr, self._shr, self._heal_in, self._drain, self._hp_max,
            self._en_max, self._sh_max, self._last_damage, self._shield_delay, self._alive,
        )  # fmt: skip

    def _next_shield_regen(self, games: np.ndarray) -> None:
        """Per game of ``games`` (bool mask or indices): the first loop on which some shield below its maximum can
        regenerate."""
        st = self.state
        below = st.alive[games] & (st.shield[games] < self._sh_max2[games])
        starts = np.where(below, st.last_damage_loop[games] + self._delay2[games], np.inf)
        self._shield_next[games] = starts.min(axis=1)

    def _split_events(self) -> list[list[tuple[str, int, int]]]:
        out: list[list[tuple[str, int, int]]] = [[] for _ in range(self.games)]
        for kind, att, tgt in self._chunks:
            games = self._gid[tgt]
            local_att = np.where(att >= 0, att - self._gbase[np.maximum(att, 0)], -1)
            local_tgt = tgt - self._gbase[tgt]
            name = EVENT_KINDS[kind]
            for g, a, b in zip(games.tolist(), local_att.tolist(), local_tgt.tolist(), strict=True):
                out[g].append((name, a, b))
        return out
