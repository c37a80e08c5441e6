"""Forking a running game: copies of one game of a ``BatchedEngine`` (or of a fresh single ``Engine``) into the
slots of another, each continuing exactly as the original would (the expert's lookahead, expert.py).

``BatchedEngine.load`` only takes games at loop 0; a game in progress also carries per-game work state (lazy-heal
windows, rescan bounds, collision pairs, the undrawn cooldown jitter, the generator), so ``fork_into`` copies it
all, slots renumbered. Copies are bit-identical continuations: same state hashes, events and winners for the same
commands (tests/test_expert_fork.py).
"""

from __future__ import annotations

import numpy as np

from envs.skirmish.batched import BatchedEngine, GameView
from envs.skirmish.engine import Engine

_SLOT_ARRAYS = ("_next_scan", "_heal_in", "_drain", "_heal_on", "_heal_key")  # per-slot work state, flat
_GAME_SCALARS = ("loop", "winner", "_synced", "_lazy", "_heal_from", "_heal_until", "_shield_next", "_pairs_until")


def fork_into(dst: BatchedEngine, games: np.ndarray, source: GameView | Engine) -> None:
    """Make each game of ``dst`` listed in ``games`` an exact copy of ``source`` (a game of a batch, any loop, or
    a single Engine at loop 0); ``dst`` must hold ``source``'s scenario size and share its unit table."""
    if isinstance(source, Engine):
        for k in games.tolist():
            dst.load(k, source)
        return
    src, g = source.batch, source.g
    n, cap, src_cap = source.state.n, dst.capacity, src.capacity
    if n > cap or src.units is not dst.units:
        raise ValueError("fork_into: the destination must hold the game's units and share its unit table")
    scenario = src.scenarios[g]
    src_slots = slice(g * src_cap, g * src_cap + n)
    pairs = [(a, b, r) for a, b, r in ((src._pi, src._pj, src._rsum), src._parked)]
    mine = [src._gid[a] == g for a, _, _ in pairs]
    local = [(a[m] - g * src_cap, b[m] - g * src_cap, r[m]) for (a, b, r), m in zip(pairs, mine, strict=True)]
    jitter = src._jbuf[g, src._jpos[g] : src._jend[g]]
    for k in games.tolist():
        dst._load(k, scenario, src.seeds[g], source.state)
        slots = slice(k * cap, k * cap + n)
        for name in _SLOT_ARRAYS:
            getattr(dst, name)[slots] = getattr(src, name)[src_slots]
        for name in _GAME_SCALARS:
            getattr(dst, name)[k] = getattr(src, name)[g]
        dst.fog[k], dst.see_all[k] = src.fog[g], src.see_all[g]
        rng = np.random.default_rng()
        rng.bit_generator.state = src._rngs[g].bit_generator.state
        dst._rngs[k] = rng
        dst._jbuf[k, : jitter.size] = jitter
        dst._jpos[k], dst._jend[k] = 0, jitter.size
        dst._targeted[k] = dict(src._targeted[g])
        for a, b, r in local:  # this game's collision pairs, in their order, renumbered into game k's slots
            if a.size:
                dst._pi = np.concatenate((dst._pi, a + k * cap))
                dst._pj = np.concatenate((dst._pj, b + k * cap))
                dst._rsum = np.concatenate((dst._rsum, r))
    mask = np.zeros(dst.games, dtype=bool)
    mask[games] = True
    dst._alive_changed(mask)
    dst._dirty_g |= mask
