"""The Skirmish engine: a deterministic, vectorised StarCraft II-like combat simulation at 22.4 loops per second.

Driven from outside: ``issue`` commands, then ``advance(loops)`` (an agent step is ``step_mul`` loops). Every
loop runs these phases on struct-of-arrays state, vectorised over units:

1. targets: units drop targets that left their leash range, units without one scan for the nearest hittable
   enemy (attack-move: acquisition range = max(sight, weapon range); idle and hold: weapon range) and healers
   for the most damaged biological ally;
2. fire: weapons that are ready (``cooldown`` elapsed) with their target in range fire; hits resolve in slot
   order through shields, armor and bonus damage (combat.py), splash and suicide included; the dead are removed;
   idle units that were hit fight back;
3. heal: healers with energy heal their target by heal_rate / 22.4 per loop, paying energy per hp;
4. move: units step at most speed / 22.4 towards their goal (a point, or a unit until it is within weapon /
   heal / follow range), then overlapping ground units are pushed apart (movement.py) and clamped to the map;
   finished moves pop the order queue.

Orders (commands.py): move and attack-move complete on reaching their point, attack-unit and follow when their
unit dies (then the next queued order starts, on the next loop); hold never completes (orders queued behind it
wait).
Attack-moving units keep a target while it stays within acquisition range and chase it; idle units keep an
auto-acquired or retaliation target within acquisition range too; holding units only within weapon range.

Loop-exact by construction, with work skipped where it provably changes no decision:

* cooldowns are kept as absolute ready loops; a weapon fires on the first loop at or after its ready loop, and
  if it became ready during the loop before, the fraction of a loop carries over (``ready += period``), so
  the average rate is exactly one volley per cooldown; a weapon that waited has no carry. Each volley's
  cooldown varies by a uniform jitter of +- ``cooldown_jitter`` (units.yaml; 1 loop) from the seeded ``rng``;
* hp, shield and energy regeneration are applied in closed form, ``min(max, v + rate x loops)`` (what adding
  per loop with the clamp gives), whenever damage, healing, a heal scan or the end of ``advance`` needs
  current values; shields regenerate on loops at least ``shield_delay_loops`` (160) after the last damage;
* healing that is bound to run at a constant rate for a while (every healer in range healing a target that
  cannot fill up meanwhile, at its full rate or at the trickle its energy regeneration allows) is applied the
  same way, as rates inside that closed form, until something changes;
* a unit whose scan found nothing rescans only when an enemy could first have come into range (distance gap
  over the fastest possible closing speed, pushes included); weapons are checked only from the first loop on
  which one could be ready with its target in range (same bound); collision candidate pairs are rebuilt every
  PAIR_WINDOW loops with a margin covering the most any unit can move meanwhile.

None of this changes a decision (targets, shots, deaths, paths); values brought up to date in closed form can
differ in the last bits from loop-by-loop addition depending on when they were synced, so runs are
bit-identical for identical inputs (scenario, seed, commands and ``advance`` sizes) and agree to rounding
across different ``advance`` splits (the tests check both).

Simplifications against SC2 (documented, deliberate): damage is instant (no projectile travel or attack
point), no acceleration or turning, air units do not collide, ground collisions are pairwise pushes rather than
pathing, no target priorities beyond nearest, tank splash hits friendly ground units, killed banelings do not
explode. A move also completes when the unit is blocked (BLOCKED_LOOPS loops without progress within its
army's crowd radius), so a group sent to one point does not jostle forever.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable

import numpy as np
from numba import njit

from envs.skirmish.combat import group_starts, resolve_hits, sequential_cap, splash_fraction
from envs.skirmish.commands import COMMAND_ORDERS, UNIT_KINDS, Command, Order
from envs.skirmish.movement import candidate_pairs, push_index, separation
from envs.skirmish.scenario import Scenario, roster_table
from envs.skirmish.slots import damage_table, slot_tables
from envs.skirmish.state import NEVER, QUEUE_LENGTH, TAG_RECYCLE, GameState
from envs.skirmish.targeting import edge_distances, most_damaged, nearest_enemies
from envs.skirmish.units import UnitTable

ENGINE_VERSION = "4"  # 3: hits on one victim sum per victim (batched engine identity); 4: fire and leash
# checked again the loop after a structure's push (the batched engine checks them every loop)
EVENT_KINDS = ("attack", "heal", "splash", "death")
DEFEAT_RULES = ("units", "structures")
STRUCTURE = "structure"  # the unit attribute the "structures" defeat rule counts
ATTACK, HEAL, SPLASH, DEATH = range(len(EVENT_KINDS))
FOLLOW_GAP = 0.5  # edge distance a follower keeps to the unit it follows
PAIR_WINDOW = 8  # loops between rebuilds of the collision candidate pairs
BLOCKED_LOOPS = 16  # loops without progress that end a blocked move ...
BLOCKED_PROGRESS = 0.1  # ... where progress is less than this fraction of the unit's speed
JITTER_BATCH = 256  # cooldown jitter values drawn from the generator at once
EXIT_ROUNDS = 4  # rounds of footprint exits searched for a unit trapped inside structures
REACH_EPS = 1e-6  # map units of slack in range checks, so a unit that stepped exactly into range is in range
_IDLE, _MOVE, _ATTACK_MOVE, _ATTACK_UNIT, _HOLD, _FOLLOW = (int(o) for o in Order)
_NONE = np.empty(0, dtype=np.int64)
_FIRST = np.zeros(1, dtype=np.int64)
_NOT_LAZY = np.zeros(1, dtype=bool)  # kernels.refresh's per-game flags the one game never sets
_min = np.minimum.reduce  # ndarray.min without the method's Python wrapper


class Engine:
    """One Skirmish game: ``state`` (GameState) advanced loop by loop from a Scenario (see module docstring).

    ``events`` lists ``(kind, attacker, target)`` tuples since the last ``advance`` call, kind in EVENT_KINDS
    ("death" names the killer, -1 if none, and the dead unit; a baneling's death names itself twice).
    """

    def __init__(self, scenario: Scenario, seed: int = 0, fog: bool = False, units: UnitTable | None = None,
                 capacity: int | None = None, defeat: str = "units") -> None:  # fmt: skip
        """``capacity``: slots beyond the scenario's units, free for ``spawn`` (full games); ``defeat``: "units" (a
        side with no units left loses; neither side able to hurt the other is a draw) or "structures" (SC2's rule:
        a side with no structures left loses; no stalemate draw, since an economy can still build)."""
        if defeat not in DEFEAT_RULES:
            raise ValueError(f"defeat must be one of {DEFEAT_RULES}, got {defeat!r}")
        self.units = units if units is not None else roster_table(scenario.roster)
        self.scenario = scenario
        self.seed = int(seed)
        self.fog = bool(fog)
        self.defeat = defeat
        self.see_all: frozenset[int] = frozenset()  # players who see through fog (cheat_vision bots)
        self.rng = np.random.default_rng(self.seed)  # draws the cooldown jitter, JITTER_BATCH values at a time
        self._jitter_draws = np.empty(0)
        self.state = GameState.from_scenario(scenario, self.units, capacity)
        if self.state.n > TAG_RECYCLE:
            raise ValueError(f"an engine holds at most {TAG_RECYCLE} slots (unique tags), got {self.state.n}")
        self.loop = 0
        self._winner: int | None = None
        self._chunks: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._event_list: list[tuple[str, int, int]] | None = None
        self._targeted = {1: -1, 2: -1}
        self.solid = np.ones(self.state.n, dtype=bool)  # units that collide (full games turn gathering workers off)
        self.roster_version = 0  # counts spawns and morphs: per-slot constants derived from types are stale after one
        self._slot_params()
        self.invalidate_caches()
        self._check_done()

    # ------------------------------------------------------------------ public API

    @property
    def done(self) -> bool:
        return self._winner is not None

    @property
    def winner(self) -> int | None:
        """1 or 2 when that player destroyed the other's units, 0 for a draw (time limit or mutual), None running."""
        return self._winner

    @property
    def events(self) -> list[tuple[str, int, int]]:
        if self._event_list is None:
            self._event_list = [
                (EVENT_KINDS[kind], a, b)
                for kind, att, tgt in self._chunks
                for a, b in zip(att.tolist(), tgt.tolist(), strict=True)
            ]
        return self._event_list

    def invalidate_caches(self) -> None:
        """Forget every derived cache; call after editing ``state`` arrays directly (the engine never needs it)."""
        n = self.state.n
        self._next_scan = np.zeros(n, dtype=np.int64)
        self._pairs_until = -1
        self._heal_in = np.zeros(n)  # lazy healing: hp per loop flowing into each target ...
        self._drain = np.zeros(n)  # ... and energy per loop each healer spends, for loops in (_heal_from, _heal_until]
        self._heal_lazy = False
        self._dirty = True
        self._alive_changed()
        self._next_shield_regen()

    def issue(self, player: int, command: Command) -> None:
        """Give ``command`` to ``player``'s units (dead ones are ignored); it takes effect at the next loop."""
        if apply_command(self.state, player, command, self._map_size, self._targeted, self._next_scan):
            self._dirty = True

    def advance(self, loops: int) -> None:
        """Simulate ``loops`` game loops (fewer if the game ends first; nothing once it has ended)."""
        if isinstance(loops, bool) or not isinstance(loops, int | np.integer) or loops < 0:
            raise ValueError(f"advance: loops must be a non-negative int, got {loops!r}")
        self._chunks = []
        self._event_list = None
        if self._winner is not None or loops == 0:
            return
        st = self.state
        if st.pos.dtype != np.float64 or not st.pos.flags.c_contiguous:
            st.pos = np.ascontiguousarray(st.pos, dtype=np.float64)
        self._pos = st.pos
        self._z = st.pos.view(np.complex128).reshape(-1)  # x + iy, sharing memory with state.pos
        self._pz = self._pz2.view(np.complex128).reshape(-1)  # (again: a copied engine's views are separate arrays)
        self._ready = self.loop + st.cooldown
        self._fire_at = float(self._ready[self._shoot].min()) if not self._dirty and self._any_shoot else -np.inf
        self._synced = self.loop
        self._heading = np.zeros(st.n, dtype=np.complex128)
        end = self.loop + int(loops)
        limit = self.scenario.time_limit_loops
        while self.loop < end:
            self._step(self.loop + 1)
            self.loop += 1
            if (self._ending or self.loop >= limit) and self._check_done():  # _ending: see _alive_changed
                break
        self._sync(self.loop)
        np.maximum(self._ready - self.loop, 0.0, out=st.cooldown)
        turned = self._heading != 0.0
        st.facing[turned] = np.angle(self._heading[turned])

    @property
    def map_size(self) -> np.ndarray:
        """[width, height] of the map (float64; read-only use)."""
        return self._map_size

    def visible(self, player: int) -> np.ndarray:
        """bool [n]: the units ``player`` sees (see ``visible_units``)."""
        return visible_units(self.state, self._r, self._sight, player, self.fog and player not in self.see_all)

    def state_hash(self) -> str:
        """sha256 hex of the loop, the random generator and every GameState array (see ``game_hash``)."""
        return game_hash(self.loop, self.rng, self._jitter_draws, self.state)

    # ------------------------------------------------------------------ full games: units come and change

    def spawn(self, unit_type: str, owner: int, pos: tuple[float, float], facing: float = 0.0,
              hp_fraction: float = 1.0) -> int:  # fmt: skip
        """A new unit in the lowest free (dead) slot, between two ``advance`` calls; returns the slot.

        It starts idle with full shields and starting energy, ``hp_fraction`` of its hp (a structure going up
        starts low) and a new tag (the slot's + TAG_RECYCLE). Orders and targets left on the slot's previous unit
        are forgotten first, so nothing carries over to the newcomer."""
        if self.done:
            raise RuntimeError("spawn: the game has ended")
        slot = spawn_slot(self.state, self.units, unit_type, owner, pos, self._map_size, facing, hp_fraction,
                          self._forget)  # fmt: skip
        self.solid[slot] = True
        self._types_changed()
        return slot

    def morph(self, slot: int, unit_type: str, keep_orders: bool = False) -> None:
        """A living unit becomes another type in place (larva -> egg, hatchery -> lair, drone -> structure): same
        slot, tag and position, the same hp and shield fractions, starting energy, no orders (``keep_orders``: its
        orders, target and weapon cooldown stay, for a unit that only gains an upgrade)."""
        morph_slot(self.state, slot, self.units, unit_type, keep_orders)
        self._types_changed()

    def add_hp(self, slots: np.ndarray, amounts: np.ndarray) -> None:
        """Add hp to living units (a structure going up), capped at their maximum, between ``advance`` calls."""
        st = self.state
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        amounts = np.broadcast_to(np.asarray(amounts, dtype=np.float64), slots.shape)
        if slots.size and (slots.min() < 0 or slots.max() >= st.n or not st.alive[slots].all()):
            raise ValueError(f"add_hp: slots must hold living units, got {slots.tolist()}")
        if np.any(amounts < 0):
            raise ValueError("add_hp: amounts must be >= 0")
        np.add.at(st.hp, slots, amounts)
        np.minimum(st.hp, self._hp_max, out=st.hp)
        self.invalidate_caches()  # lazy heals and regeneration windows assumed the old hp

    def set_solid(self, slots: np.ndarray, solid: bool) -> None:
        """Make units collide or not (SC2's gathering workers walk through other units), between ``advance`` calls.

        ``solid`` is the caller's state (a full game hashes it with its economy); the engine only reads it."""
        slots = np.asarray(slots, dtype=np.int64).reshape(-1)
        if slots.size and (slots.min() < 0 or slots.max() >= self.state.n):
            raise ValueError(f"set_solid: slots must be in [0, {self.state.n}), got {slots.tolist()}")
        if bool(np.any(self.solid[slots] != solid)):
            self.solid[slots] = solid
            self._pairs_until = -1  # rebuild the collision pairs at the next loop
            if solid:
                self._eject()

    def _forget(self, slot: int) -> None:
        """Drop every order and target other units hold on ``slot`` (see ``forget_slot``)."""
        for u in forget_slot(self.state, slot, self._targeted):
            self._start(np.array([u]))

    def _types_changed(self) -> None:
        self.roster_version += 1
        self._slot_params()
        self.invalidate_caches()
        self._eject()
        self._check_done()

    # ------------------------------------------------------------------ setup

    def _slot_params(self) -> None:
        """Per-slot copies of the static unit stats (indexed by engine slot, so loops never look up types)."""
        tables = slot_tables(self.units, self.state.utype)  # (shared with every engine of these unit types)
        for name, value in tables.params.items():
            setattr(self, "_" + name, value)
        self._raw_table = damage_table(self.units)  # [attacker type, victim type]
        self._kind_values, self._kind_wants, self._kind_base = tables.kind_values, tables.kind_wants, tables.kind_base
        n = self.state.n
        self._map_size = np.array([self.scenario.map_width, self.scenario.map_height], dtype=np.float64)
        self._jitter = self.units.cooldown_jitter_loops
        self._healer_slots = self._healer.nonzero()[0]
        self._healers_of = {p: self._healer_slots[self.state.owner[self._healer_slots] == p] for p in (1, 2)}
        self._shield_delay_min = tables.shield_delay_min
        self._structure = structure_slots(self.units, self.state.utype)
        self._counted = self._structure if self.defeat == "structures" else np.ones(n, dtype=bool)
        from envs.skirmish.kernels import refresh  # (here: kernels imports this module's constants)

        self._refresh_kernel = refresh
        self._every = np.ones(n, dtype=bool)  # (kernels.refresh's "game running" per slot)
        self._heal_key = np.full(n, -1, dtype=np.int64)  # (its lazy-heal bookkeeping, unused by one game)
        self._gu = np.arange(n)  # _refresh's per-slot outputs, written in place
        self._stop, self._stop_eps, self._scan_range = np.zeros(n), np.zeros(n), np.zeros(n)
        self._leash_hi, self._leash_lo, self._weight = np.zeros(n), np.zeros(n), np.zeros(n)
        self._fire_hi, self._fire_lo, self._heal_hi = np.zeros(n), np.zeros(n), np.zeros(n)
        self._has_point, self._mobile, self._wants = (np.zeros(n, dtype=bool) for _ in range(3))
        self._shoot, self._healing, self._has_t, self._idle_armed = (np.zeros(n, dtype=bool) for _ in range(4))
        self._pz2 = np.zeros((n, 2))
        self._pz = self._pz2.view(np.complex128).reshape(-1)  # each slot's order point as x + iy

    def _alive_changed(self) -> None:
        """Recompute what depends on who is alive: living slots, counts, regen rates, crowd radii, pairs."""
        st = self.state
        alive = st.alive
        self._alive_idx = np.flatnonzero(alive)
        self._counts = np.bincount(st.owner[alive & self._counted], minlength=3)
        self._stalemate = self.defeat == "units" and not (self._can_damage(1) or self._can_damage(2))
        self._ending = self._stalemate or not (self._counts[1] and self._counts[2])  # _check_done would end it
        self._hpr = self._hp_regen_rate * alive
        self._shr = self._sh_regen_rate * alive
        self._enr = self._en_regen_rate * alive
        rates = (self._hpr, self._shr, self._enr)
        self._regen_hp, self._regen_sh, self._regen_en = (bool(np.count_nonzero(rate)) for rate in rates)
        self._disp_max = float(self._disp[alive].max()) if self._alive_idx.size else 0.0
        self._inv_closing = 1.0 / np.maximum(self._disp + self._disp_max, 1e-12)
        ground = alive & ~self._air
        area = np.bincount(st.owner[ground], weights=self._r[ground] ** 2, minlength=3)
        self._crowd = 2.0 * np.sqrt(area)  # radius a packed army covers, doubled for slack
        self._crowd_reach = self._crowd[st.owner] + self._speed
        if self._pairs_until >= 0:
            keep = alive[self._pi] & alive[self._pj]
            self._pi, self._pj, self._rsum = self._pi[keep], self._pj[keep], self._rsum[keep]
            self._pair_inv_closing = self._pair_inv_closing[keep]
            self._shares_stale = True
            self._push_index = None

    def _check_done(self) -> bool:
        """End the game: a side with no units left loses; a draw at the time limit or when neither side can hurt
        the other."""
        if self._winner is None:
            c1, c2 = int(self._counts[1]), int(self._counts[2])
            if c1 == 0 or c2 == 0:
                self._winner = 0 if c1 == c2 else (1 if c2 == 0 else 2)
            elif self._stalemate or self.loop >= self.scenario.time_limit_loops:
                self._winner = 0
        return self._winner is not None

    def _can_damage(self, player: int) -> bool:
        """Whether one of ``player``'s living armed units can hit one of the enemy's living units."""
        st = self.state
        mine = st.alive & (st.owner == player) & self._armed
        theirs = st.alive & (st.owner == 3 - player)
        enemy_air, enemy_ground = bool((theirs & self._air).any()), bool((theirs & ~self._air).any())
        return bool((mine & ((self._hits_air & enemy_air) | (self._hits_ground & enemy_ground))).any())

    # ------------------------------------------------------------------ orders

    def _start(self, slots: np.ndarray) -> None:
        """The current order of ``slots`` changed: reset their target (attack-unit: its unit) and rescan."""
        st = self.state
        kind = st.order_kind[slots, 0]
        st.attack_target[slots] = np.where(kind == _ATTACK_UNIT, st.order_unit[slots, 0], -1)
        st.stall[slots] = 0
        self._next_scan[slots] = 0
        self._dirty = True

    def _pop(self, slots: np.ndarray) -> None:
        """The current order of ``slots`` completed: the next queued order (or idle) becomes current."""
        st = self.state
        for array, empty in ((st.order_kind, _IDLE), (st.order_unit, -1), (st.order_pos, 0.0)):
            array[slots, :-1] = array[slots, 1:]
            array[slots, -1] = empty
        st.order_len[slots] = np.maximum(st.order_len[slots] - 1, 0)
        self._start(slots)

    def _refresh(self) -> None:
        """Rebuild the per-unit behaviour arrays from orders and targets (only after something changed): orders on
        units that died complete, then each slot's goal, stop distance, wants, leash, ranges and whether it shoots.

        Range tests become centre-distance thresholds here (``_fire_hi`` = radii + range + REACH_EPS, ...) so
        the per-loop code compares ``_d`` against them directly. One compiled call (``kernels.refresh``, the
        batched engine's, for one game of every slot): a full game rebuilds after nearly every gathering order.
        """
        st = self.state
        self._refresh_kernel(
            _FIRST, st.n, st.alive, self._every, st.order_kind, st.order_unit, st.order_pos, st.order_len,
            st.attack_target, st.stall, self._next_scan, _NOT_LAZY, self._heal_key, self._r, self._target_gap,
            self._can_move, self._kind_base, self._kind_wants, self._kind_values, self._strike, self._min_range,
            self._heal_range, self._armed, self._air, self._hits_air, self._hits_ground, self._healer, self._gu,
            self._stop, self._stop_eps, self._has_point, self._pz2, self._mobile, self._weight, self._wants,
            self._scan_range, self._leash_hi, self._leash_lo, self._fire_hi, self._fire_lo, self._heal_hi,
            self._shoot, self._healing, self._has_t, self._idle_armed, _NOT_LAZY,
        )  # fmt: skip
        self._shares_stale = True
        target = st.attack_target
        healers = self._healing.nonzero()[0]
        if self._heal_lazy and not (
            np.array_equal(healers, self._heal_idx) and np.array_equal(target[healers], self._heal_tgt)
        ):  # the lazy heals assumed other healers or targets: settle them
            self._sync(self.loop)
            self._heal_stop()
        self._heal_idx = healers
        if healers.size:
            self._heal_tgt = target[healers]
            self._heal_hi_h = self._heal_hi[healers]
            self._heal_unique = healers.size == 1 or len(set(self._heal_tgt.tolist())) == healers.size
            self._heal_rate_h = self._heal_rate[healers]
            self._heal_cost_h = self._heal_cost[healers]
            self._heal_max_t = self._hp_max[self._heal_tgt]
        self._any_point = np.count_nonzero(self._has_point) > 0
        self._any_target = np.count_nonzero(self._has_t) > 0
        self._leash_at = 0
        self._any_shoot = np.count_nonzero(self._shoot) > 0
        self._any_idle_armed = np.count_nonzero(self._idle_armed) > 0
        self._healers_wait = np.count_nonzero(self._wants[self._healer_slots]) > 0
        self._fire_at = float(self._ready[self._shoot].min()) if self._any_shoot else np.inf
        self._update_scan_at()
        self._dirty = False

    def _update_scan_at(self) -> None:
        """The first loop at which some unit wants to scan (inf if none)."""
        due = self._next_scan[self._wants]
        self._scan_at = int(due.min()) if due.size else np.inf

    # ------------------------------------------------------------------ one loop

    def _step(self, t: int) -> None:
        if self._dirty:
            self._refresh()
        if t >= self._pairs_until:
            self._build_pairs(t)
        self._geometry()
        dropped = self._leash(t) if self._any_target and t >= self._leash_at else None
        if t >= self._scan_at or dropped is not None:
            if self._scan(t, dropped) or dropped is not None:
                self._refresh()
                self._geometry()
        frozen = self._fire(t) if self._any_shoot and t >= self._fire_at else None
        if self._heal_idx.size:
            self._heal(t, frozen)
        self._move(t, frozen)

    def _leash(self, t: int) -> np.ndarray | None:
        """Drop targets that left their leash range (or came inside the minimum range); returns those units.
        When none did, no target can before the slack runs out at the fastest closing speed: skip until then."""
        d = self._d
        slack = np.minimum(self._leash_hi - d, d - self._leash_lo)  # < 0 exactly where d > hi or d < lo
        if _min(slack) < 0.0:
            dropped = (slack < 0.0).nonzero()[0]
            self.state.attack_target[dropped] = -1
            return dropped
        loops = float(_min(slack * self._inv_closing))
        self._leash_at = t + (max(1.0, math.floor(loops)) if loops < math.inf else loops)
        return None

    def _geometry(self) -> None:
        """Vector (complex) and distance from every unit to its goal (goal unit, goal point, or itself: zero)."""
        goal = self._z[self._gu]
        if self._any_point:
            np.copyto(goal, self._pz, where=self._has_point)
        self._dz = goal - self._z
        self._d = np.abs(self._dz)

    def _scan(self, t: int, dropped: np.ndarray | None) -> bool:
        """Acquire targets for the units that want one and are due; returns whether any target was set."""
        due = self._wants & (self._next_scan <= t)
        if dropped is not None:
            due[dropped] = True
        scanners = due.nonzero()[0]
        found = False
        armed = scanners[self._armed[scanners]]
        if armed.size:
            found |= self._scan_enemies(armed, t)
        healers = scanners[self._healer[scanners]]
        if healers.size:
            found |= self._scan_allies(healers, t)
        self._update_scan_at()
        return found

    def _scan_allies(self, healers: np.ndarray, t: int) -> bool:
        """Heal targets: the most damaged biological ally in scan range. A healer that finds none rescans when
        its side takes damage (``_fire`` wakes it) or when a damaged ally could first have come into range."""
        st = self.state
        self._sync(t - 1)
        cand = self._alive_idx
        edge = edge_distances(self._z, self._r, healers, cand)
        eligible = (st.owner[cand][None, :] == st.owner[healers][:, None]) & self._bio[cand][None, :]
        eligible &= cand[None, :] != healers[:, None]
        follow = st.order_kind[healers, 0] == _FOLLOW
        eligible &= ~follow[:, None] | (cand[None, :] == st.order_unit[healers, 0][:, None])
        missing = self._hp_max[cand] - st.hp[cand]
        column, gap = most_damaged(edge, missing, eligible, self._scan_range[healers])
        hit = column >= 0
        st.attack_target[healers[hit]] = cand[column[hit]]
        self._wait(healers[~hit], gap[~hit], t)
        return np.count_nonzero(hit) > 0

    def _scan_enemies(self, scanners: np.ndarray, t: int) -> bool:
        st = self.state
        cand = self._alive_idx
        edge = edge_distances(self._z, self._r, scanners, cand)
        hittable = st.owner[cand][None, :] != st.owner[scanners][:, None]
        hittable &= np.where(self._air[cand][None, :], self._hits_air[scanners][:, None],
                             self._hits_ground[scanners][:, None])  # fmt: skip
        column, gap = nearest_enemies(edge, hittable, self._scan_range[scanners], self._min_range[scanners])
        hit = column >= 0
        st.attack_target[scanners[hit]] = cand[column[hit]]
        self._wait(scanners[~hit], gap[~hit], t)
        return np.count_nonzero(hit) > 0

    def _wait(self, slots: np.ndarray, gap: np.ndarray, t: int) -> None:
        """Schedule the next scan of ``slots`` at the first loop a candidate ``gap`` beyond range could reach."""
        if slots.size:
            wait = np.floor(np.minimum(gap * self._inv_closing[slots], 2.0**40))
            self._next_scan[slots] = t + np.maximum(wait, 1.0).astype(np.int64)

    def _fire(self, t: int) -> np.ndarray | None:
        """Fire every ready weapon whose target is in range; returns the units that must not move this loop."""
        d = self._d
        fire = (self._shoot & (self._ready <= t) & (d <= self._fire_hi) & (d >= self._fire_lo)).nonzero()[0]
        if fire.size == 0:
            self._fire_at = self._next_fire(t)
            return None
        st = self.state
        self._sync(t - 1)
        due = self._ready[fire]
        period = self._period[fire]
        if self._jitter > 0.0:
            if self._jitter_draws.size < fire.size:
                fresh = self.rng.uniform(-self._jitter, self._jitter, JITTER_BATCH + fire.size)
                self._jitter_draws = np.concatenate((self._jitter_draws, fresh))
            period = period + self._jitter_draws[: fire.size]
            self._jitter_draws = self._jitter_draws[fire.size :]
        self._ready[fire] = np.where(due > t - 1, due, t) + period
        self._fire_at = self._next_fire(t)
        self._heading[fire] = self._dz[fire]
        primary = st.attack_target[fire]
        self._chunks.append((ATTACK, fire, primary))
        attacker, victim, fraction, bombers = self._volley_rows(fire, primary)
        starts = group_starts(victim) if victim.size != 1 else _FIRST
        raw = self._raw_table[self._ut[attacker], self._ut[victim]]
        if fraction is not None:
            raw = raw * fraction
        absorbed, loss = resolve_hits(starts, victim, raw, st.shield, self._armor)
        hit = victim[starts]
        if starts.size == victim.size:
            lasts = starts
        else:
            loss = np.add.reduceat(loss, starts)
            absorbed = None if absorbed is None else np.add.reduceat(absorbed, starts)
            lasts = np.append(starts[1:], victim.size) - 1
        if absorbed is not None:
            st.shield[hit] = np.maximum(st.shield[hit] - absorbed, 0.0)
            self._shield_next = min(self._shield_next, t + self._shield_delay_min)
        st.hp[hit] -= loss
        st.last_damage_loop[hit] = t
        if self._healers_wait:  # healers without a target look again when their side is hurt
            for owner in set(st.owner[hit[self._bio[hit]]].tolist()):
                wake = self._healers_of[owner]
                if wake.size:
                    self._next_scan[wake] = np.minimum(self._next_scan[wake], t + 1)
                    self._scan_at = min(self._scan_at, t + 1)
        if self._any_idle_armed:
            self._retaliate(hit, attacker[starts])
        dying = st.hp[hit] <= 0.0
        if bombers.size == 0 and not np.count_nonzero(dying):
            return None
        killed = np.concatenate((hit[dying], bombers))
        killers = np.concatenate((attacker[lasts[dying]], bombers))
        killed, first = np.unique(killed, return_index=True)
        return self._kill(killed, killers[first], t)

    def _volley_rows(self, fire: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, ...]:
        """(attacker, victim, damage fraction or None where every hit is whole, suicide bombers) for slots ``fire``
        shooting at ``primary``, one row per attack of a multi-attack weapon plus splash rows (also recorded as a
        SPLASH chunk), sorted by victim with ties in row order."""
        fraction = None
        bombers = _NONE
        if np.count_nonzero(self._plain[fire]) == fire.size:
            attacker, victim = fire, primary
        else:
            bombers = fire[self._suicide[fire]]
            direct = ~self._splash_at_attacker[fire]
            count = self._attacks[fire[direct]]
            attacker = np.repeat(fire[direct], count)
            victim = np.repeat(primary[direct], count)
            fraction = np.ones(attacker.size)
            splashers = self._splashes[fire]
            if np.count_nonzero(splashers):
                s_att, s_vic, s_frac = self._splash_rows(fire[splashers], primary[splashers])
                self._chunks.append((SPLASH, s_att, s_vic))
                attacker = np.concatenate((attacker, s_att))
                victim = np.concatenate((victim, s_vic))
                fraction = np.concatenate((fraction, s_frac))
        if attacker.size > 1:
            order = np.argsort(victim, kind="stable")
            attacker, victim = attacker[order], victim[order]
            if fraction is not None:
                fraction = fraction[order]
        return attacker, victim, fraction, bombers

    def _next_fire(self, t: int) -> float:
        """The first loop after t on which some weapon could fire: ready, and its target possibly in range given
        the fastest the two can close in (so ``_fire`` is skipped while everyone reloads or walks into range)."""
        gap = np.maximum(self._d - self._fire_hi, 0.0)
        due = np.maximum(self._ready, t + np.floor(gap * self._inv_closing))
        return max(float(due[self._shoot].min()), t + 1.0)

    def _splash_rows(self, splashers: np.ndarray, primary: np.ndarray) -> tuple[np.ndarray, ...]:
        """(attacker, victim, fraction) rows of the splash around each splashing shot."""
        st = self.state
        at_self = self._splash_at_attacker[splashers]
        centre = np.where(at_self, splashers, primary)
        cand = self._alive_idx
        distance = np.abs(self._z[cand][None, :] - self._z[centre][:, None]) - self._r[cand][None, :]
        fraction = splash_fraction(distance, self._splash_r[splashers], self._splash_f[splashers])
        valid = np.where(self._air[cand][None, :], self._hits_air[splashers][:, None],
                         self._hits_ground[splashers][:, None])  # fmt: skip
        valid &= cand[None, :] != splashers[:, None]
        valid &= (cand[None, :] != primary[:, None]) | at_self[:, None]
        valid &= self._splash_friendly[splashers][:, None] | (st.owner[cand][None, :] != st.owner[splashers][:, None])
        row, col = np.nonzero(valid & (fraction > 0.0))
        return splashers[row], cand[col], fraction[row, col]

    def _retaliate(self, victims: np.ndarray, attackers: np.ndarray) -> None:
        """Idle armed units without a target that were hit by an enemy they can hit attack it back."""
        st = self.state
        ok = self._idle_armed[victims] & (st.hp[victims] > 0.0) & (st.owner[attackers] != st.owner[victims])
        ok &= np.where(self._air[attackers], self._hits_air[victims], self._hits_ground[victims])
        ok &= st.alive[attackers] & ~self._suicide[attackers]
        if np.count_nonzero(ok):
            st.attack_target[victims[ok]] = attackers[ok]
            self._idle_armed[victims[ok]] = False
            self._dirty = True

    def _kill(self, dead: np.ndarray, killers: np.ndarray, t: int) -> np.ndarray:
        """Remove ``dead`` from play; units targeting them lose the target. Returns the units frozen this loop."""
        st = self.state
        self._chunks.append((DEATH, killers, dead))
        st.alive[dead] = False
        st.hp[dead] = 0.0
        st.shield[dead] = 0.0
        st.order_kind[dead] = _IDLE
        st.order_unit[dead] = -1
        st.order_len[dead] = 0
        st.attack_target[dead] = -1
        killed = np.zeros(st.n, dtype=bool)
        killed[dead] = True
        lost = killed[np.maximum(st.attack_target, 0)] & (st.attack_target >= 0)
        st.attack_target[lost] = -1
        self._next_scan[lost] = t + 1
        if self._heal_lazy and (killed[self._heal_idx].any() or killed[self._heal_tgt].any()):
            self._heal_stop()  # ``_fire`` synced to t - 1 before the damage
        self._alive_changed()
        self._dirty = True
        return killed | killed[self._gu]

    def _heal(self, t: int, frozen: np.ndarray | None) -> None:
        """Healers heal their targets for this loop: exactly, or by the lazy rates while those are known safe."""
        st = self.state
        healers, target = self._heal_idx, self._heal_tgt
        ok = self._d[healers] <= self._heal_hi_h
        if self._heal_lazy and frozen is None and t <= self._heal_until and not np.count_nonzero(ok ^ self._heal_on):
            self._chunks.append(self._heal_events)
            return
        if frozen is not None:  # something died this loop: healer or target
            ok &= ~frozen[healers] & st.alive[target]
        if self._heal_lazy:
            self._sync(t - 1)
            self._heal_stop()
        if not np.count_nonzero(ok):
            return
        self._sync(t - 1)
        energy = st.energy[healers]
        cost = self._heal_cost_h
        want = np.minimum(self._heal_rate_h, energy / cost) * ok
        hp = st.hp[target]
        if self._heal_unique:
            got = np.minimum(want, self._heal_max_t - hp)
            st.hp[target] = hp = hp + got
        else:
            got = sequential_cap(target, want, self._hp_max - st.hp)
            st.hp += np.bincount(target, got, st.n)
            hp = st.hp[target]
        st.energy[healers] = energy = np.maximum(energy - got * cost, 0.0)
        healed = got > 0.0
        count = np.count_nonzero(healed)
        if count:
            self._chunks.append((HEAL, healers, target) if count == healers.size else
                                (HEAL, healers[healed], target[healed]))  # fmt: skip
        full = ok & (hp >= self._heal_max_t)
        if np.count_nonzero(full):
            st.attack_target[healers[full]] = -1
            self._next_scan[healers[full]] = t + 1
            self._dirty = True
        elif self._heal_unique:
            self._heal_start(t, ok, got, hp, energy)

    def _heal_start(self, t: int, on: np.ndarray, got: np.ndarray, hp: np.ndarray, energy: np.ndarray) -> None:
        """Switch to lazy healing after loop t if every healer in range (``on``) heals at a rate that stays
        constant: the full heal rate, or, with its energy spent, the trickle its energy regeneration buys each
        loop. The rates then go into ``_sync`` for the loops after t during which no target can reach full hp
        and no full-rate healer run short of energy. ``_heal`` falls back to exact loops when a healer enters or
        leaves range, a healer or target dies, the targets change or the window ends."""
        healers, target = self._heal_idx[on], self._heal_tgt[on]
        rate, cost = self._heal_rate_h[on], self._heal_cost_h[on]
        got, energy = got[on], energy[on]
        regen_hp, regen_en = self._hpr[target], self._enr[healers]
        full_rate = got == rate
        trickle = (energy <= 1e-9) & (got > 0.0) & (regen_en < rate * cost)
        energy = energy + regen_en  # after this loop's regeneration
        if np.count_nonzero(full_rate | trickle) < healers.size or np.count_nonzero(energy > self._en_max[healers]):
            return
        flow = np.where(full_rate, rate, regen_en / cost)
        drain = flow * cost
        missing = self._heal_max_t[on] - hp[on] - regen_hp
        loops = np.floor(missing / (flow + regen_hp)) - 1.0
        spending = full_rate & (drain > regen_en)
        window = float(_min(loops))
        if np.count_nonzero(spending):  # (no np.errstate: dividing by 1.0 where not spending costs less)
            loops_en = np.floor((energy - drain) / np.where(spending, drain - regen_en, 1.0))
            window = min(window, float(_min(np.where(spending, loops_en, np.inf))))
        if window >= 1.0:
            self._heal_in[target] = flow
            self._drain[healers] = drain
            self._heal_from, self._heal_until = t, t + int(window)
            self._heal_on = on
            self._heal_events = (HEAL, healers, target)
            self._heal_lazy = True

    def _heal_stop(self) -> None:
        """End lazy healing (after ``_sync`` has applied it up to the current loop)."""
        if self._heal_lazy:
            self._heal_in[:] = 0.0
            self._drain[:] = 0.0
            self._heal_lazy = False

    def _move(self, t: int, frozen: np.ndarray | None) -> None:
        z = self._z
        moving = self._mobile & (self._d > self._stop_eps)
        if frozen is not None:
            moving &= ~frozen
        slots = moving.nonzero()[0]
        moved = slots.size > 0
        if moved:
            d = self._d[slots]
            step = self._dz[slots]
            z[slots] += step * (np.minimum(d - self._stop[slots], self._speed[slots]) / d)
            self._heading[slots] = step
        if self._pi.size and t >= self._apart_until:
            if self._shares_stale:
                self._pair_shares()
            if self._push_index is None:
                self._push_index = push_index(self._pi, self._pj, z.size)
            pushed, free = separation(z, self._pi, self._pj, self._rsum, self._shares, self._push_cap,
                                      self._pair_inv_closing, self._push_index)  # fmt: skip
            if pushed is not None:
                z += pushed
                moved = True
            self._apart_until = t + free
        if self._box_s.size and self._clear_structures():
            moved = True
            self._fire_at = self._leash_at = -np.inf  # a structure's hard push can outrun the closing speeds that
            # _next_fire and _leash skip by: look again next loop, as the batched engine does every loop
        if moved:  # pushes (and rounding) can end a hair outside the map: clamp (x and y at once, on state.pos)
            pos = self._pos
            np.minimum(np.maximum(pos, 0.0, out=pos), self._map_size, out=pos)
        if self._any_point:
            self._finish_moves(moving, frozen)

    def _finish_moves(self, moved: np.ndarray, frozen: np.ndarray | None) -> None:
        """Pop point orders that arrived this loop, or are blocked near the goal (see BLOCKED_LOOPS).

        A unit is blocked after BLOCKED_LOOPS loops in a row that it spent within its army's crowd radius of
        the goal making less than BLOCKED_PROGRESS of its speed in progress.
        """
        st = self.state
        arrived = self._has_point & (self._d <= self._speed)
        if frozen is not None:
            arrived &= ~frozen
        walkers = (moved & self._has_point & (self._d <= self._crowd_reach)).nonzero()[0]
        if walkers.size:
            left = np.abs(self._pz[walkers] - self._z[walkers])
            slow = self._d[walkers] - left < BLOCKED_PROGRESS * self._speed[walkers]
            stall = np.where(slow, st.stall[walkers] + 1, 0).astype(np.int16)
            st.stall[walkers] = stall
            blocked = (stall >= BLOCKED_LOOPS) & (left <= self._crowd[st.owner[walkers]])
            arrived[walkers[blocked]] = True
        if np.count_nonzero(arrived):
            self._pop(arrived.nonzero()[0])

    def _build_pairs(self, t: int) -> None:
        """Collision candidates for the next PAIR_WINDOW loops: ground pairs that could touch meanwhile."""
        st = self.state
        ground = (st.alive & ~self._air & self.solid).nonzero()[0]
        reach = self._r + PAIR_WINDOW * self._disp
        pi, pj = candidate_pairs(self._z, reach, ground)
        keep = self._can_move[pi] | self._can_move[pj]
        self._pi, self._pj = pi[keep], pj[keep]
        self._rsum = self._r[self._pi] + self._r[self._pj]
        self._pair_inv_closing = 1.0 / np.maximum(self._disp[self._pi] + self._disp[self._pj], 1e-12)
        self._pairs_until = t + PAIR_WINDOW
        self._apart_until = t
        one = self._structure[self._pi] != self._structure[self._pj]  # unit-structure pairs (full games only)
        if np.count_nonzero(one):
            first = self._structure[self._pi[one]]
            self._box_s = np.where(first, self._pi[one], self._pj[one])
            self._box_m = np.where(first, self._pj[one], self._pi[one])
        else:
            self._box_s = self._box_m = _NONE
        self._shares_stale = True
        self._push_index = None

    def _eject(self) -> None:
        """After a spawn, a morph or a unit turning solid between advances: move solid mobile ground units out of
        every structure footprint they stand in (as SC2 pushes units off a new building)."""
        movers = np.flatnonzero(self.state.alive & ~self._air & self._can_move & self.solid)
        if self._exit_structures(movers):
            self.invalidate_caches()

    def _clear_structures(self) -> bool:
        """Hard collision with structures, each loop (``clear_structures``); returns whether a unit moved."""
        moved = clear_structures(self._z, self._box_m, self._box_s, self._r, self.state.alive, self.solid,
                                 self._can_move)  # fmt: skip
        if moved is None:
            return False
        self._exit_structures(moved)  # (only units still inside some footprint are searched)
        return True

    def _exit_structures(self, movers: np.ndarray) -> bool:
        """``exit_structures`` for ``movers`` against this game's living structures; returns whether any moved."""
        st = self.state
        return exit_structures(movers, np.flatnonzero(st.alive & self._structure), st.pos, self._r, self._map_size)

    def _pair_shares(self) -> None:
        """Each candidate pair's split of a push, by the two units' push weights (0 for units that cannot move)."""
        wi, wj = self._weight[self._pi], self._weight[self._pj]
        total = np.maximum(wi + wj, 1e-300)
        self._shares = np.stack((wj / total, wi / total))  # what unit j and unit i take of a pair's push
        self._shares_stale = False

    def _sync(self, t: int) -> None:
        """Bring hp / shield / energy regeneration (and lazy healing) up to the end of loop ``t``, in closed form:
        ``min(max, v + rate x loops)`` equals adding the rate loop by loop with the clamp each loop."""
        loops = t - self._synced
        if loops <= 0:
            return
        st = self.state
        if self._heal_lazy:
            healing = t - max(self._synced, self._heal_from)
            np.minimum(st.hp + self._hpr * loops + self._heal_in * healing, self._hp_max, out=st.hp)
            np.minimum(st.energy + self._enr * loops - self._drain * healing, self._en_max, out=st.energy)
        else:
            if self._regen_hp:
                np.minimum(st.hp + self._hpr * loops, self._hp_max, out=st.hp)
            if self._regen_en:
                np.minimum(st.energy + self._enr * loops, self._en_max, out=st.energy)
        if self._regen_sh and t >= self._shield_next:
            since = np.maximum(st.last_damage_loop + (self._shield_delay - 1), self._synced)
            active = np.maximum(t - since, 0)
            np.minimum(st.shield + self._shr * active, self._sh_max, out=st.shield)
            self._next_shield_regen()
        self._synced = t

    def _next_shield_regen(self) -> None:
        """The first loop on which some shield below its maximum can regenerate (so ``_sync`` skips until then)."""
        st = self.state
        below = st.alive & (st.shield < self._sh_max)
        starts = st.last_damage_loop[below] + self._shield_delay[below]
        self._shield_next = int(starts.min()) if starts.size else np.inf


def apply_command(st: GameState, player: int, command: Command, map_size: np.ndarray, targeted: dict[int, int],
                  next_scan: np.ndarray) -> bool:  # fmt: skip
    """Write ``player``'s ``command`` into the orders of ``st`` (dead units ignored) and the selection / target
    flags (``targeted``: each player's last target unit, updated); the units whose current order changed restart
    it (attack-unit: its unit as target, no stall, rescan: ``next_scan`` 0). Returns whether any did (the engine
    rebuilds its behaviour rows). Shared by Engine and BatchedEngine (a game's views); one compiled call."""
    n = st.n
    if player not in (1, 2):
        raise ValueError(f"issue: player must be 1 or 2, got {player!r}")
    units = np.asarray(command.units, dtype=np.int64).reshape(-1)
    kind = command.kind
    uses_target = kind in UNIT_KINDS
    target = command.target_unit if uses_target else -1
    order = -1 if kind == "stop" else int(COMMAND_ORDERS[kind])
    point = command.target_pos
    x, y = (0.0, 0.0) if point is None else (float(point[0]), float(point[1]))
    width, height = float(map_size[0]), float(map_size[1])
    result = _apply_command(st.owner, st.alive, st.was_selected, st.was_targeted, st.order_kind, st.order_unit,
                            st.order_pos, st.order_len, st.attack_target, st.stall, next_scan, units, player, order,
                            uses_target, target, point is not None, x, y, width, height, bool(command.queued),
                            targeted[player], targeted[3 - player])  # fmt: skip
    if result == _BAD_UNITS:
        raise ValueError(f"issue: Command.units must be engine indices in [0, {n}), got {command.units!r}")
    if result == _NOT_OWNED:
        raise ValueError(f"issue: player {player} selected units it does not own: {command.units!r}")
    if result == _BAD_TARGET:
        raise ValueError(f"issue: Command.target_unit must be in [0, {n}), got {command.target_unit}")
    targeted[player] = target
    return result == _STARTED


_UNCHANGED, _STARTED, _BAD_UNITS, _NOT_OWNED, _BAD_TARGET = range(5)  # what _apply_command did


@njit(cache=True)
def _apply_command(owner, alive, was_selected, was_targeted, order_kind, order_unit, order_pos, order_len,
                   attack_target, stall, next_scan, units, player, order, uses_target, target, has_point, x, y, width,
                   height, queued, previous, other):  # fmt: skip
    """``apply_command``'s checks (a failing one changes nothing) and writes; ``order`` -1 is stop, ``target`` -1
    none, ``previous`` / ``other``: the target of this player's / the other player's last command."""
    n = owner.size
    for u in units:
        if u < 0 or u >= n:
            return _BAD_UNITS
    for u in units:
        if owner[u] != player:
            return _NOT_OWNED
    if uses_target and not 0 <= target < n:
        return _BAD_TARGET
    selected = units[alive[units]]
    increasing = True
    for k in range(1, selected.size):
        if selected[k] <= selected[k - 1]:
            increasing = False
    if not increasing:
        selected = np.unique(selected)
    for s in range(n):
        if owner[s] == player:
            was_selected[s] = False
    for s in selected:
        was_selected[s] = True
    if previous >= 0 and previous != other:  # was_targeted: the target units of each player's last command
        was_targeted[previous] = False
    if target >= 0:
        was_targeted[target] = True
    if selected.size == 0 or (uses_target and not alive[target]):
        return _UNCHANGED
    px, py = 0.0, 0.0
    if has_point:  # clamped to the map as Python's min(max(v, 0.0), size)
        px = 0.0 if 0.0 > x else x
        px = width if width < px else px
        py = 0.0 if 0.0 > y else y
        py = height if height < py else py
    started = False
    for s in selected:
        if order == -1:  # stop: clear the queue
            order_kind[s, :] = _IDLE
            order_unit[s, :] = -1
            order_pos[s, :, :] = 0.0
            order_len[s] = 0
        elif queued:
            column = order_len[s]
            if column >= QUEUE_LENGTH:
                continue
            order_kind[s, column] = order
            order_unit[s, column] = target
            order_pos[s, column, 0] = px
            order_pos[s, column, 1] = py
            order_len[s] += 1
            if column != 0:
                continue
        else:
            order_kind[s, :] = _IDLE
            order_unit[s, :] = -1
            order_pos[s, :, :] = 0.0
            order_kind[s, 0] = order
            order_unit[s, 0] = target
            order_pos[s, 0, 0] = px
            order_pos[s, 0, 1] = py
            order_len[s] = 1
        attack_target[s] = order_unit[s, 0] if order_kind[s, 0] == _ATTACK_UNIT else -1  # the order starts
        stall[s] = 0
        next_scan[s] = 0
        started = True
    return _STARTED if started else _UNCHANGED


def structure_slots(units: UnitTable, utype: np.ndarray) -> np.ndarray:
    """bool per slot of ``utype``: whether its unit type is a structure (none in a combat roster)."""
    if STRUCTURE not in units.attribute_names:
        return np.zeros(utype.shape, dtype=bool)
    return (units.attributes[utype] & units.attribute_bit(STRUCTURE)) != 0


def spawn_slot(st: GameState, units: UnitTable, unit_type: str, owner: int, pos: tuple[float, float],
               map_size: float, facing: float, hp_fraction: float, forget: Callable[[int], None]) -> int:  # fmt: skip
    """``Engine.spawn``'s change of ``st``: the new unit's slot (the lowest dead one), emptied by ``forget`` of what
    others held on it, then written: idle, full shields, starting energy, ``hp_fraction`` of its hp, a new tag."""
    free = np.flatnonzero(~st.alive)
    if not free.size:
        raise RuntimeError(f"spawn: all {st.n} slots hold living units (raise the engine's capacity)")
    if owner not in (1, 2):
        raise ValueError(f"spawn: owner must be 1 or 2, got {owner!r}")
    if not 0.0 < hp_fraction <= 1.0:
        raise ValueError(f"spawn: hp_fraction must be in (0, 1], got {hp_fraction!r}")
    t = units.type_index(unit_type)
    slot = int(free[0])
    forget(slot)
    st.tag[slot] += TAG_RECYCLE
    st.utype[slot], st.owner[slot], st.alive[slot] = t, owner, True
    st.pos[slot] = np.clip(np.asarray(pos, dtype=np.float64), 0.0, map_size)
    st.facing[slot] = facing
    st.hp[slot] = units.hp[t] * hp_fraction
    st.shield[slot], st.energy[slot] = units.shields[t], units.energy_start[t]
    st.cooldown[slot], st.last_damage_loop[slot] = 0.0, NEVER
    st.was_selected[slot] = st.was_targeted[slot] = False
    return slot


def morph_slot(st: GameState, slot: int, units: UnitTable, unit_type: str, keep_orders: bool) -> None:
    """``Engine.morph``'s change of ``st``: the slot takes the new type with the same hp and shield fractions
    (orders, target, energy and cooldown reset unless ``keep_orders``)."""
    if not (0 <= slot < st.n and st.alive[slot]):
        raise ValueError(f"morph: slot {slot} does not hold a living unit")
    old, t = int(st.utype[slot]), units.type_index(unit_type)
    st.hp[slot] = units.hp[t] * st.hp[slot] / units.hp[old]
    st.shield[slot] = units.shields[t] * (st.shield[slot] / units.shields[old] if units.shields[old] > 0 else 1.0)
    if not keep_orders:
        st.energy[slot], st.cooldown[slot] = units.energy_start[t], 0.0
        st.order_kind[slot], st.order_unit[slot], st.order_pos[slot], st.order_len[slot] = _IDLE, -1, 0.0, 0
        st.attack_target[slot] = -1
    st.utype[slot] = t


def forget_slot(st: GameState, slot: int, targeted: dict[int, int]) -> list[int]:
    """Drop every order and target other units hold on ``slot`` before a new unit takes it (queued orders on it are
    removed, the rest kept in order); returns the units whose current order changed (the engine restarts them)."""
    restart = []
    holders = np.flatnonzero((st.order_unit[:, :QUEUE_LENGTH] == slot).any(axis=1))
    for u in holders.tolist():
        if u == slot:
            continue
        keep = [q for q in range(int(st.order_len[u])) if st.order_unit[u, q] != slot]
        current = st.order_unit[u, 0] == slot
        kinds, units, points = st.order_kind[u, keep], st.order_unit[u, keep], st.order_pos[u, keep]
        st.order_kind[u], st.order_unit[u], st.order_pos[u] = _IDLE, -1, 0.0
        st.order_kind[u, : len(keep)], st.order_unit[u, : len(keep)], st.order_pos[u, : len(keep)] = (
            kinds, units, points)  # fmt: skip
        st.order_len[u] = len(keep)
        if current:
            restart.append(u)
    others = st.attack_target == slot
    others[slot] = False
    st.attack_target[others] = -1
    for player, target in targeted.items():
        if target == slot:
            targeted[player] = -1
    return restart


def clear_structures(z: np.ndarray, box_m: np.ndarray, box_s: np.ndarray, r: np.ndarray, alive: np.ndarray,
                     solid: np.ndarray, can_move: np.ndarray) -> np.ndarray | None:  # fmt: skip
    """Hard collision with structures: the solid mobile ground units of the unit-structure candidate pairs
    (``box_m``, ``box_s``) that stand inside a footprint move out along the axis of least overlap (soft pushes alone
    let a unit walk through); returns the units moved (sorted, for ``exit_structures``: one may land in another
    footprint), or None."""
    d = z[box_m] - z[box_s]
    half = r[box_s] + r[box_m]
    over_x, over_y = half - np.abs(d.real), half - np.abs(d.imag)
    inside = (over_x > 0.0) & (over_y > 0.0) & alive[box_m] & alive[box_s] & solid[box_m] & can_move[box_m]
    if not np.count_nonzero(inside):
        return None
    m, d, over_x, over_y = box_m[inside], d[inside], over_x[inside], over_y[inside]
    sign_x, sign_y = np.where(d.real >= 0.0, 1.0, -1.0), np.where(d.imag >= 0.0, 1.0, -1.0)
    np.add.at(z, m, np.where(over_x <= over_y, sign_x * over_x + 0j, 1j * sign_y * over_y))
    return np.unique(m)


def exit_structures(movers: np.ndarray, structures: np.ndarray, pos: np.ndarray, r: np.ndarray,
                    map_size: np.ndarray) -> bool:  # fmt: skip
    """Move each of ``movers`` that stands inside one of ``structures``' footprint squares (grown by its radius) to
    the nearest point outside every footprint among the exits of the footprints it is in, then their exits (a few
    rounds), so a unit between structures is not pushed from one into the next; returns whether any moved."""
    if not structures.size or not movers.size:
        return False
    trapped = _trapped(np.asarray(movers, dtype=np.int64), structures, pos, r)
    moved = False
    for m in trapped.tolist():
        half = r[structures] + r[m]
        lo, hi = pos[structures] - half[:, None], pos[structures] + half[:, None]
        points = pos[m][None].copy()
        for _ in range(EXIT_ROUNDS):
            inside = (points[:, None, :] > lo[None]) & (points[:, None, :] < hi[None])
            p, k = np.nonzero(inside.all(axis=2))  # (point, structure) pairs still inside
            exits = np.repeat(points[p][:, None, :], 4, axis=1)
            exits[:, 0, 0], exits[:, 1, 0] = lo[k, 0] - 1e-9, hi[k, 0] + 1e-9
            exits[:, 2, 1], exits[:, 3, 1] = lo[k, 1] - 1e-9, hi[k, 1] + 1e-9
            points = np.unique(np.clip(exits.reshape(-1, 2), 0.0, map_size), axis=0)
            blocked = ((points[:, None, :] > lo[None]) & (points[:, None, :] < hi[None])).all(axis=2).any(axis=1)
            if not blocked.all():
                free = points[~blocked]
                pos[m] = free[int(np.argmin(np.abs(free - pos[m]).sum(axis=1)))]
                moved = True
                break
    return moved


def visible_units(st: GameState, radius: np.ndarray, sight: np.ndarray, player: int, fog: bool) -> np.ndarray:
    """bool [n]: the units ``player`` sees: all without ``fog``; else its own units and living enemies whose
    circle touches the sight circle of one of its living units (``radius``, ``sight``: per slot)."""
    if not fog:
        return np.ones(st.n, dtype=bool)
    own = st.owner == player
    seen = own.copy()
    eyes = (own & st.alive).nonzero()[0]
    others = (~own & st.alive).nonzero()[0]
    if eyes.size and others.size:
        z = np.ascontiguousarray(st.pos).view(np.complex128).reshape(-1)
        gap = edge_distances(z, radius, eyes, others) + radius[eyes][:, None]
        seen[others] = (gap <= sight[eyes][:, None]).any(axis=0)
    return seen


def game_hash(loop: int, rng: np.random.Generator, jitter_draws: np.ndarray, st: GameState) -> str:
    """sha256 hex of the loop, the random generator, its drawn but unused jitter and every GameState array (names,
    dtypes, shapes, bytes): equal hashes mean equal games."""
    digest = hashlib.sha256(np.int64(loop).tobytes())
    digest.update(json.dumps(rng.bit_generator.state, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(jitter_draws).tobytes())
    for name, array in st.arrays().items():
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


@njit(cache=True)
def _trapped(movers: np.ndarray, structures: np.ndarray, pos: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The ``movers`` (in their order) whose centre lies inside some structure's footprint square grown by both
    radii: closer than ``r[s] + r[m]`` on both axes (one compiled pass: armies walking past structures ask every
    loop)."""
    out = np.empty(movers.size, dtype=np.int64)
    count = 0
    for m in movers:
        for s in structures:
            reach = r[s] + r[m]
            if abs(pos[m, 0] - pos[s, 0]) < reach and abs(pos[m, 1] - pos[s, 1]) < reach:
                out[count] = m
                count += 1
                break
    return out[:count]
