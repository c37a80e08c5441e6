"""Gathering on exact loops: each worker's trip cycle, to a mineral field or a gas building, as timed events.

A gathering worker is not solid (it walks through other units, as SC2's mineral walk) and moves by plain engine
move orders, so its arrival loop is known when the order is given. Cycle: walk to its field; wait while another
worker mines it (fields are mined one worker at a time, first come first served, which is what saturates a line
past 2 workers per field); mine ``mineral_time``; pause ``mineral_pause`` (the field is already free); walk to the
edge of its town hall; deliver; walk back. A field that runs out sends its workers to the nearest field of the same
base that has minerals left. Gas is the same cycle through a finished gas building of the worker's own player (4
vespene a trip, ``vespene_time`` inside, no pause). A worker that its player orders elsewhere, or that starts
fighting, leaves the cycle and collides again.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
from numba import njit

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.skirmish.commands import Command, Order
from envs.skirmish.economy.bank import Bank
from envs.skirmish.economy.rules import Rules, seconds_to_loops
from envs.skirmish.engine import Engine

NONE, TO_FIELD, WAITING, MINING, PAUSED, TO_HALL = range(6)  # a worker's phase
NEVER = np.iinfo(np.int64).max
_WALK, _IDLE = int(Order.MOVE), int(Order.IDLE)
BASE_RADIUS = 12.0  # map units from a town hall within which mineral fields belong to its base


def walk(engine: Engine, unit: int, goal: np.ndarray) -> int:
    """Order a non-solid ``unit`` to move to ``goal`` and return the loop it arrives on: it goes straight at full
    speed, so that is known now (gathering and construction time their events by it)."""
    speed = float(engine.units.speed_loop[engine.state.utype[unit]])
    distance = float(np.hypot(*(goal - engine.state.pos[unit])))
    engine.issue(int(engine.state.owner[unit]), Command("move", units=(unit,), target_pos=(goal[0], goal[1])))
    return engine.loop + max(1, math.ceil(distance / speed - 1e-9))


class Gathering:
    """The gathering state of every engine slot and every source (mineral fields, then geysers)."""

    def __init__(self, engine: Engine, rules: Rules, bank: Bank, fields: np.ndarray, contents: np.ndarray,
                 geysers: np.ndarray, geyser_contents: np.ndarray) -> None:  # fmt: skip
        """Sources: ``fields`` [F, 2] mineral field centres with ``contents`` [F], then ``geysers`` [G, 2] with
        ``geyser_contents`` [G] (minable once a finished gas building of the worker's player stands on one, see
        ``gas_ready``); deliveries go to ``bank``."""
        self.engine, self.rules, self.bank = engine, rules, bank
        n, g = engine.state.n, rules.gathering
        fields, geysers = np.asarray(fields, dtype=np.float64).reshape(-1, 2), np.asarray(geysers).reshape(-1, 2)
        self.field_pos = np.concatenate([fields, geysers.astype(np.float64)])  # every source, minerals first
        self.contents = np.concatenate([contents, geyser_contents]).astype(np.int64)
        self.vespene = np.arange(len(self.field_pos)) >= len(fields)
        self.geyser_base = len(fields)  # source index of geyser 0
        self.building = np.full(len(self.field_pos), -1, dtype=np.int32)  # the gas building on each geyser
        gas_radius = rules.units.radius[rules.units.type_index(next(
            r.name for r in rules.recipes.values() if r.on_geyser))]  # fmt: skip
        self.source_radius = np.where(self.vespene, gas_radius, rules.resources["mineral_field"].radius)
        self.mine_loops = np.where(self.vespene, seconds_to_loops(g.vespene_time), seconds_to_loops(g.mineral_time))
        self.pause_loops = np.where(self.vespene, 0, round(g.mineral_pause * LOOPS_PER_SECOND))
        self.per_trip = np.where(self.vespene, g.vespene_per_trip, g.minerals_per_trip)
        self.field_free_at = np.zeros(len(self.field_pos), dtype=np.int64)  # loop the source's miner finishes
        self.queue: list[deque[int]] = [deque() for _ in range(len(self.field_pos))]
        self.phase = np.zeros(n, dtype=np.int8)
        self.field = np.full(n, -1, dtype=np.int32)
        self.hall = np.full(n, -1, dtype=np.int32)
        self.due = np.full(n, NEVER, dtype=np.int64)  # loop of the worker's next event
        self.carry = np.zeros(n, dtype=np.int64)
        self.goal = np.zeros((n, 2), dtype=np.float64)
        self._out = np.zeros(n, dtype=np.int64)  # (the deserters found by _drop_deserters)

    def gas_ready(self, geyser: int, building: int) -> None:
        """A gas building finished on ``geyser`` (index among the map's geysers): its source can be mined."""
        self.building[self.geyser_base + geyser] = building

    def usable(self, worker: int, source: int) -> bool:
        """Whether ``worker`` may gather from ``source``: minerals left, and for gas its own living building."""
        if self.contents[source] <= 0:
            return False
        if not self.vespene[source]:
            return True
        b, st = int(self.building[source]), self.engine.state
        return b >= 0 and bool(st.alive[b]) and st.owner[b] == st.owner[worker]

    # ------------------------------------------------------------------ assignment

    def assign(self, worker: int, field: int, hall: int) -> None:
        """Send ``worker`` to mine ``field`` and deliver to the town hall in slot ``hall``."""
        self._leave(worker)
        self.field[worker], self.hall[worker] = field, hall
        self.engine.set_solid([worker], False)
        self._walk(worker, self._field_spot(worker, field), TO_FIELD)

    def assign_all(self, workers: np.ndarray, hall: int) -> None:
        """Spread ``workers`` over the fields of ``hall``'s base as SC2 does: each to the field with the fewest
        workers, the nearest to the town hall first."""
        for w in workers.tolist():
            self.assign(w, self.free_field(hall), hall)

    def free_field(self, hall: int) -> int:
        """The field of ``hall``'s base (within BASE_RADIUS) with minerals left and the fewest workers, nearest
        first; ties break along the mineral line in the base's own frame, so mirrored bases fill mirrored fields in
        the same order (a fair start). -1 when the base is mined out."""
        offsets = self.field_pos - self.engine.state.pos[hall]
        distance = np.hypot(offsets[:, 0], offsets[:, 1])
        fields = np.flatnonzero((distance < BASE_RADIUS) & (self.contents > 0) & ~self.vespene)
        if not fields.size:
            return -1
        line = offsets[fields].mean(axis=0)
        across = np.array([-line[1], line[0]]) / np.hypot(*line)
        along = np.round(offsets[fields] @ across, 6)
        order = fields[np.lexsort((along, np.round(distance[fields], 6)))]  # by distance, then along the line
        counts = np.array([np.count_nonzero((self.field == f) & (self.phase != NONE)) for f in order])
        return int(order[int(np.argmin(counts))])

    # ------------------------------------------------------------------ events

    def next_event(self) -> int:
        """The loop of the next gathering event (NEVER if none)."""
        return int(self.due.min()) if self.due.size else NEVER

    def handle(self, loop: int) -> None:
        """Process every event due at ``loop`` (the engine has advanced to it) and drop deserters first."""
        self._drop_deserters()
        for w in np.flatnonzero(self.due <= loop).tolist():
            phase = int(self.phase[w])
            if phase == TO_FIELD:
                if not self._arrived(w, loop):
                    continue
                self._reach_field(w, loop)
            elif phase == MINING:
                self._finish_mining(w, loop)
            elif phase == PAUSED:
                self._walk(w, self._hall_spot(w), TO_HALL)
            elif phase == TO_HALL and self._arrived(w, loop):
                owner, carry = int(self.engine.state.owner[w]), int(self.carry[w])
                if self.vespene[int(self.field[w])]:
                    self.bank.deposit(owner, vespene=carry)
                else:
                    self.bank.deposit(owner, minerals=carry)
                self.carry[w] = 0
                self._walk(w, self._field_spot(w, int(self.field[w])), TO_FIELD)

    def _reach_field(self, w: int, loop: int) -> None:
        f = int(self.field[w])
        if not self.usable(w, f):
            self._retarget(w)
            return
        if self.field_free_at[f] <= loop and not self.queue[f]:
            self._start_mining(w, f, loop)
        else:
            self.queue[f].append(w)
            self.phase[w], self.due[w] = WAITING, NEVER

    def _start_mining(self, w: int, f: int, loop: int) -> None:
        self.field_free_at[f] = loop + int(self.mine_loops[f])
        self.phase[w], self.due[w] = MINING, loop + int(self.mine_loops[f])

    def _finish_mining(self, w: int, loop: int) -> None:
        f = int(self.field[w])
        self.carry[w] = min(int(self.per_trip[f]), int(self.contents[f]))
        self.contents[f] -= self.carry[w]
        self._next_miner(f, loop)
        if self.pause_loops[f]:
            self.phase[w], self.due[w] = PAUSED, loop + int(self.pause_loops[f])
        else:
            self._walk(w, self._hall_spot(w), TO_HALL)

    def _next_miner(self, f: int, loop: int) -> None:
        """The field is free: the first worker still waiting there mines it; on an empty field all of them leave."""
        while self.queue[f]:
            nxt = self.queue[f].popleft()
            if self.phase[nxt] != WAITING or self.field[nxt] != f:
                continue  # it left meanwhile
            if self.usable(nxt, f):
                self._start_mining(nxt, f, loop)
                return
            self._retarget(nxt)

    def _retarget(self, w: int) -> None:
        """The worker's source ran out (or its gas building is gone): the nearest mineral field with minerals left
        near its town hall, if any."""
        hall_pos = self.engine.state.pos[int(self.hall[w])]
        near = np.linalg.norm(self.field_pos - hall_pos, axis=1) < BASE_RADIUS
        left = np.flatnonzero((self.contents > 0) & near & ~self.vespene)
        if not left.size:
            self._leave(w)
            return
        here = self.engine.state.pos[w]
        self.field[w] = int(left[np.argmin(np.linalg.norm(self.field_pos[left] - here, axis=1))])
        self._walk(w, self._field_spot(w, int(self.field[w])), TO_FIELD)

    # ------------------------------------------------------------------ movement

    def _walk(self, w: int, goal: np.ndarray, phase: int) -> None:
        self.goal[w] = goal
        self.phase[w], self.due[w] = phase, walk(self.engine, w, goal)

    def _arrived(self, w: int, loop: int) -> bool:
        """Whether the worker's move order is done; if rounding left it a loop short, its event moves on one loop."""
        st = self.engine.state
        if st.order_kind[w, 0] == Order.IDLE:
            return True
        self.due[w] = loop + 1
        return False

    def _field_spot(self, w: int, f: int) -> np.ndarray:
        """Where a worker mines: the source's edge on the side of its town hall."""
        centre = self.field_pos[f]
        towards = self.engine.state.pos[int(self.hall[w])] - centre
        reach = float(self.source_radius[f] + self.engine.units.radius[self.engine.state.utype[w]])
        return centre + towards / np.hypot(*towards) * reach

    def _hall_spot(self, w: int) -> np.ndarray:
        """Where a worker delivers: its town hall's edge on the side of its field."""
        st, units = self.engine.state, self.engine.units
        hall = int(self.hall[w])
        centre = st.pos[hall]
        towards = self.field_pos[int(self.field[w])] - centre
        reach = float(units.radius[st.utype[hall]] + units.radius[st.utype[w]])
        return centre + towards / np.hypot(*towards) * reach

    # ------------------------------------------------------------------ leaving

    def release(self, worker: int) -> None:
        """Take ``worker`` out of the cycle (its player has other work for it)."""
        self._leave(worker)

    def forget(self, slot: int) -> None:
        """A new unit took ``slot``: nothing of the gathering of the unit that had it carries over."""
        self.phase[slot], self.field[slot], self.hall[slot], self.due[slot], self.carry[slot] = NONE, -1, -1, NEVER, 0
        for queue in self.queue:
            if slot in queue:
                queue.remove(slot)

    def _drop_deserters(self) -> None:
        """Workers that died, were ordered elsewhere or started fighting leave the cycle (checked before every
        event: one compiled pass over the slots)."""
        st = self.engine.state
        count = _deserters(self.phase, self.goal, st.alive, st.order_kind, st.order_pos, st.attack_target, self._out)
        for w in self._out[:count].tolist():
            self._leave(w)

    def _leave(self, w: int) -> None:
        if self.phase[w] == MINING:
            f = int(self.field[w])
            self.field_free_at[f] = self.engine.loop  # the field frees now for the next waiting worker
            self.phase[w] = NONE
            self._next_miner(f, self.engine.loop)
        self.phase[w], self.field[w], self.hall[w], self.due[w], self.carry[w] = NONE, -1, -1, NEVER, 0
        if self.engine.state.alive[w]:
            self.engine.set_solid([w], True)


@njit(cache=True)
def _deserters(phase, goal, alive, order_kind, order_pos, attack_target, out):
    """Writes into ``out`` (in slot order) the workers in the cycle that must leave it and returns how many: dead,
    given another order (a walking worker may only move or have arrived, the others only idle), walking somewhere
    other than its goal, or holding an attack target."""
    count = 0
    for w in range(phase.shape[0]):
        p = phase[w]
        if p == NONE:
            continue
        kind = order_kind[w, 0]
        moving = p == TO_FIELD or p == TO_HALL
        ordered = (kind != _WALK and kind != _IDLE) if moving else kind != _IDLE
        off_course = moving and kind == _WALK and (order_pos[w, 0, 0] != goal[w, 0] or order_pos[w, 0, 1] != goal[w, 1])
        if not alive[w] or ordered or off_course or attack_target[w] >= 0:
            out[count] = w
            count += 1
    return count
