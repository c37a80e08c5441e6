"""Compiled (numba) loops of the BatchedEngine's per-loop phases, bit-identical to the numpy they replace.

With many games a loop of numpy costs calls more than elements, and large games pay for the [scanners,
candidates] matrices of the scans; these kernels do one phase for every game in one call, slot by slot, with
the same IEEE operations in the same order as the numpy code of engine.py / batched.py (no fastmath: no
reassociation, no contraction). Distances use ``cabs``, numpy's own complex absolute value (a fused multiply-add
where numpy's SIMD loop has one, probed at import), so every distance, and so every decision, equals the numpy
engine's; where only a comparison is needed, squared lengths decide first and ``cabs`` runs near the boundary.

Compiled on first use and cached on disk (``cache=True``, per CPU): a fresh checkout pays the compile once (about
30 s on a 2-core machine), later processes load it in well under a second.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from envs.skirmish.commands import Order
from envs.skirmish.engine import BLOCKED_LOOPS, BLOCKED_PROGRESS, FOLLOW_GAP, REACH_EPS

_IDLE, _MOVE, _ATTACK_MOVE, _ATTACK_UNIT, _HOLD, _FOLLOW = (int(o) for o in Order)


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c rounded once (llvm.fma)."""
    sig = types.float64(types.float64, types.float64, types.float64)

    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return sig, codegen


def _numpy_fuses() -> bool:
    """Whether numpy's complex absolute value computes 1 + ratio**2 with a fused multiply-add on this CPU (its
    SIMD loop does where the CPU has FMA): probed on a value where the two roundings differ."""
    ratio = 0.7000000000000037  # ratio * ratio + 1 rounds differently fused (checked below)
    fused = math.sqrt(float(Fraction(ratio) * Fraction(ratio) + 1))  # one rounding of the exact value
    plain = math.sqrt(ratio * ratio + 1.0)
    assert fused != plain
    got = float(np.abs(np.array([complex(1.0, ratio)] * 16))[0])
    if got not in (fused, plain):
        raise RuntimeError("numpy's complex absolute value is neither fused nor plain hypot; kernels cannot match it")
    return got == fused


FUSED = _numpy_fuses()


@njit(cache=True, inline="always")
def cabs(re: float, im: float) -> float:
    """np.abs(complex(re, im)) bit for bit (numpy's SIMD loop: larger * sqrt(1 + (smaller / larger)**2))."""
    re = abs(re)
    im = abs(im)
    if re == math.inf or im == math.inf:
        return math.inf
    if re != re or im != im:
        return math.nan
    larger = max(re, im)
    smaller = min(re, im)
    ratio = 0.0 if larger == 0.0 else smaller / larger
    if FUSED:
        return math.sqrt(_fma(ratio, ratio, 1.0)) * larger
    return math.sqrt(ratio * ratio + 1.0) * larger


@njit(cache=True, inline="always")
def _pop(s, okind, ounit, opos, olen, target, stall, next_scan):
    """Slot s's current order completed: shift its queue (BatchedEngine._pop and _start for one slot)."""
    q = okind.shape[1]
    for k in range(q - 1):
        okind[s, k] = okind[s, k + 1]
        ounit[s, k] = ounit[s, k + 1]
        opos[s, k, 0] = opos[s, k + 1, 0]
        opos[s, k, 1] = opos[s, k + 1, 1]
    okind[s, q - 1] = _IDLE
    ounit[s, q - 1] = -1
    opos[s, q - 1, 0] = 0.0
    opos[s, q - 1, 1] = 0.0
    olen[s] = max(olen[s] - 1, 0)
    target[s] = ounit[s, 0] if okind[s, 0] == _ATTACK_UNIT else -1
    stall[s] = 0
    next_scan[s] = 0


@njit(cache=True)
def refresh(games, cap, alive, run_u, okind, ounit, opos, olen, target, stall, next_scan, lazy, heal_key,
            r, target_gap, can_move, kind_base, kind_wants, kind_values, strike, min_range, heal_range, armed, air,
            hits_air, hits_ground, healer,
            gu, stop, stop_eps, has_point, pz2, mobile, weight, wants, scan_range, leash_hi, leash_lo, fire_hi,
            fire_lo, heal_hi, shoot, healing, has_t, idle_armed, changed):  # fmt: skip
    """BatchedEngine._refresh's per-slot rows for ``games`` (indices); marks in ``changed`` the lazily healing
    games whose heal keys changed and returns whether some push weight changed."""
    weight_changed = False
    q = okind.shape[1]
    for g in games:
        base = g * cap
        for s in range(base, base + cap):
            run = run_u[s]
            live = alive[s] and run
            if live:
                for _ in range(q):  # orders on units that died complete
                    unit = ounit[s, 0]
                    if unit < 0 or alive[base + unit]:
                        break
                    _pop(s, okind, ounit, opos, olen, target, stall, next_scan)
            kind = okind[s, 0]
            tgt = target[s]
            ht = tgt >= 0 and run
            follow = kind == _FOLLOW and live
            tflat = base + tgt if tgt >= 0 else s
            unit = ounit[s, 0]
            if ht:
                goal = tflat
            elif follow:
                goal = base + unit if unit >= 0 else s
            else:
                goal = s
            has_gu = ht or follow
            rsum = r[s] + r[goal]
            gap = target_gap[s] if ht else FOLLOW_GAP
            gu[s] = goal
            st = rsum + gap if has_gu else 0.0
            stop[s] = st
            stop_eps[s] = st + REACH_EPS
            point = live and not has_gu and (kind == _MOVE or kind == _ATTACK_MOVE)
            has_point[s] = point
            pz2[s, 0] = opos[s, 0, 0]
            pz2[s, 1] = opos[s, 0, 1]
            movable = live and can_move[s] and kind != _HOLD
            mobile[s] = movable and (point or has_gu)
            w = 1.0 if movable else 0.0
            if weight[s] != w:
                weight[s] = w
                weight_changed = True
            at = kind_base[s] + kind
            wants[s] = live and not ht and kind_wants[at]
            scan_range[s] = kind_values[0, at]
            leash_hi[s] = rsum + kind_values[1, at] + REACH_EPS if ht else math.inf
            leash_lo[s] = rsum + kind_values[2, at] - REACH_EPS if ht else -math.inf
            fire_hi[s] = rsum + strike[s] + REACH_EPS
            fire_lo[s] = rsum + min_range[s] - REACH_EPS
            heal_hi[s] = rsum + heal_range[s] + REACH_EPS
            shoot[s] = armed[s] and ht and (hits_air[s] if air[goal] else hits_ground[s])
            heals = healer[s] and ht
            key = tflat if heals else (-1 if run else heal_key[s])  # paused games keep theirs
            if lazy[g] and key != heal_key[s]:
                changed[g] = True
            heal_key[s] = key
            healing[s] = heals
            has_t[s] = ht
            idle_armed[s] = live and armed[s] and kind == _IDLE and not ht
            if run and not point:
                stall[s] = 0
    return weight_changed


@njit(cache=True)
def geometry(z, gu, pz, has_point, dz, d):
    """Vector (complex) and distance from every slot to its goal (BatchedEngine._geometry)."""
    for s in range(z.size):
        goal = pz[s] if has_point[s] else z[gu[s]]
        v = goal - z[s]
        dz[s] = v
        d[s] = cabs(v.real, v.imag)


@njit(cache=True)
def geometry_leash_due(z, gu, pz, has_point, dz, d, check_leash, leash_hi, leash_lo, target, dirty_g, cap,
                       wants, next_scan, tu, healer, scanners, heal_games):  # fmt: skip
    """``geometry``, then the leash (targets out of range dropped, their games marked dirty) and the units due to
    scan (wanting one and due, or just dropped) written to ``scanners``; returns their count. ``heal_games`` marks
    the games of scanning healers (their regeneration is synced before the scan)."""
    geometry(z, gu, pz, has_point, dz, d)
    count = 0
    for s in range(z.size):
        due = wants[s] and next_scan[s] <= tu[s]
        if check_leash:
            ds = d[s]
            if min(leash_hi[s] - ds, ds - leash_lo[s]) < 0.0:
                target[s] = -1
                dirty_g[s // cap] = True
                due = True
        if due:
            scanners[count] = s
            count += 1
            if healer[s]:
                heal_games[s // cap] = True
    return count


@njit(cache=True)
def scan(scanners, gid, z, r, owner, armed, healer, cand, cand_r, alive_cols, hittable, healable, scan_code,
         scan_range, min_range, hp, hp_max, okind, ounit, gbase, inv_closing, tu, target, next_scan,
         dirty_g):  # fmt: skip
    """Target acquisition for ``scanners`` (BatchedEngine._scan_enemies then _scan_allies, targeting.py's
    nearest_enemies / most_damaged per scanner over its game's candidates); those that find nothing are scheduled
    to rescan when a candidate could first come into range (BatchedEngine._wait)."""
    m = cand.shape[1]
    for pass_ in range(2):
        for s in scanners:
            if not (armed[s] if pass_ == 0 else healer[s]):
                continue
            g = gid[s]
            zs = z[s]
            rs = r[s]
            reach = scan_range[s]
            if pass_ == 0:
                code = scan_code[s]
                lo = min_range[s]
                nearest = math.inf
                best = math.inf  # argmin of the allowed edges: the first minimum (column 0 when all are inf)
                column = 0
                for c in range(m):
                    if not hittable[g, code, c]:
                        continue
                    v = z[cand[g, c]] - zs
                    if best < math.inf and not _within(v, best + rs + cand_r[g, c], False):
                        continue  # its edge is surely above the best allowed one (>= the nearest): no change
                    edge = cabs(v.real, v.imag) - rs - cand_r[g, c]
                    if edge < nearest:
                        nearest = edge
                    if edge >= lo and edge < best:
                        best = edge
                        column = c
                if not best <= reach:
                    column = -1
                gap = nearest - reach
            else:
                side = owner[s] - 1
                follow = okind[s, 0] == _FOLLOW
                only = gbase[s] + ounit[s, 0]
                nearest = math.inf
                best = -1.0
                column = -1
                for c in range(m):
                    slot = cand[g, c]
                    if not healable[g, side, c] or slot == s or (follow and slot != only):
                        continue
                    missing = hp_max[slot] - hp[slot]
                    if not missing > 0.0:
                        continue
                    v = z[slot] - zs
                    edge = cabs(v.real, v.imag) - rs - cand_r[g, c]
                    if edge < nearest:
                        nearest = edge
                    if edge <= reach and missing > best:
                        best = missing
                        column = c
                if not best > 0.0:
                    column = -1
                gap = nearest - reach if nearest < math.inf else math.inf
            if column >= 0:
                target[s] = alive_cols[g, column]
                dirty_g[g] = True
            else:
                wait = math.floor(min(gap * inv_closing[s], 2.0**40))
                next_scan[s] = tu[s] + np.int64(max(wait, 1.0))


@njit(cache=True, inline="always")
def _within(v, reach, exact):
    """Whether |v| (as ``cabs``) may be <= reach: False only where it surely is not (squared lengths compared with a
    relative margin far above their rounding), so callers compute ``cabs`` only near the boundary. With
    ``exact`` the answer is exact (``cabs`` computed near the boundary)."""
    if reach <= 0.0:
        return False
    sq = v.real * v.real + v.imag * v.imag
    bound = reach * reach
    if sq > bound * (1.0 + 1e-9):
        return False
    if not exact or sq < bound * (1.0 - 1e-9):
        return True
    return cabs(v.real, v.imag) <= reach


@njit(cache=True)
def move(z, d, dz, stop, stop_eps, speed, mobile, frozen, any_frozen, heading, alive, pi, pj, rsum, weight, push_cap,
         onj, oni, touched, touched_mask):  # fmt: skip
    """BatchedEngine._move, first half: units step towards their goals and candidate pairs of living units that
    overlap are pushed apart (movement.separation: split by push weight, summed per unit in pair order, on j then
    on i, and capped); returns whether a unit moved (``settle`` then ends the loop's movement).
    ``onj`` / ``oni`` (complex), ``touched`` (int) and ``touched_mask``: scratch of one entry per slot, zero on entry
    and left so."""
    n = z.size
    moved = False
    for s in range(n):
        if mobile[s] and d[s] > stop_eps[s] and not (any_frozen and frozen[s]):
            step = dz[s]
            f = min(d[s] - stop[s], speed[s]) / d[s]
            z[s] = complex(z[s].real + step.real * f, z[s].imag + step.imag * f)
            heading[s] = step
            moved = True
    pushed = 0  # slots pushed (listed in ``touched``; onj / oni are zero elsewhere)
    for k in range(pi.size):  # pairs that do not overlap push by exactly zero: skipped (the sums stay the same)
        i, j = pi[k], pj[k]
        v = z[j] - z[i]
        if not (alive[i] and alive[j]) or not _within(v, rsum[k], False):
            continue
        over = rsum[k] - cabs(v.real, v.imag)
        if not over > 0.0:
            continue
        for s in (i, j):
            if not touched_mask[s]:
                touched_mask[s] = True
                touched[pushed] = s
                pushed += 1
        dre = v.real + 1e-12
        dim = v.imag + 0.0
        f = over / cabs(dre, dim)
        pre, pim = dre * f, dim * f
        wi, wj = weight[i], weight[j]
        total = max(wi + wj, 1e-300)
        a, b = wj / total, wi / total
        onj[j] += complex(a * pre, a * pim)
        oni[i] += complex(b * pre, b * pim)
    for p in range(pushed):  # (an untouched slot's push is exactly zero: adding it changes nothing)
        s = touched[p]
        t = onj[s] - oni[s]
        f = min(push_cap[s] / max(cabs(t.real, t.imag), 1e-300), 1.0)
        z[s] = complex(z[s].real + t.real * f, z[s].imag + t.imag * f)
        onj[s] = 0.0
        oni[s] = 0.0
        touched_mask[s] = False
    return moved or pushed > 0


@njit(cache=True)
def settle(moved, z, d, speed, mobile, stop_eps, frozen, any_frozen, pos, map_size, cap, has_point, crowd_reach,
           crowd_u, pz, stall, okind, ounit, opos, olen, target, next_scan, dirty_g):  # fmt: skip
    """BatchedEngine._move, second half (``moved``: whether a unit moved this loop): positions are clamped to the
    map, and point orders that arrived or are blocked pop (Engine._finish_moves)."""
    n = z.size
    if moved:  # pushes (and rounding) can end a hair outside the map: clamp
        for s in range(n):
            g = s // cap
            x = min(max(pos[s, 0], 0.0), map_size[g, 0])
            y = min(max(pos[s, 1], 0.0), map_size[g, 1])
            pos[s, 0] = x
            pos[s, 1] = y
    for s in range(n):  # finish moves (d: the distance before this loop's step)
        if not has_point[s] or (any_frozen and frozen[s]):
            continue
        arrived = d[s] <= speed[s]
        if mobile[s] and d[s] > stop_eps[s] and d[s] <= crowd_reach[s]:  # a walker near its goal
            v = pz[s] - z[s]
            left = cabs(v.real, v.imag)
            if d[s] - left < BLOCKED_PROGRESS * speed[s]:
                stall[s] += 1
            else:
                stall[s] = 0
            if stall[s] >= BLOCKED_LOOPS and left <= crowd_u[s]:
                arrived = True
        if arrived:
            _pop(s, okind, ounit, opos, olen, target, stall, next_scan)
            dirty_g[s // cap] = True


@njit(cache=True)
def sync(games, loop, synced, lazy, heal_from, shield_next, cap, hp, energy, shield, hpr, enr, shr, heal_in, drain,
         hp_max, en_max, sh_max, last_damage, delay, alive):  # fmt: skip
    """BatchedEngine._sync: regeneration (and lazy healing) of the games of ``games`` (bool mask) that are behind,
    up to their current loop, in closed form; shields from loop ``shield_next`` on."""
    any_lazy = False
    for g in range(games.size):
        if games[g] and synced[g] < loop[g] and lazy[g]:
            any_lazy = True
    for g in range(games.size):
        if not games[g] or synced[g] >= loop[g]:
            continue
        lu = loop[g] - synced[g]
        hu = loop[g] - max(synced[g], heal_from[g]) if lazy[g] else 0
        for s in range(g * cap, (g + 1) * cap):
            if any_lazy:
                hp[s] = min(hp[s] + hpr[s] * lu + heal_in[s] * hu, hp_max[s])
                energy[s] = min(energy[s] + enr[s] * lu - drain[s] * hu, en_max[s])
            else:
                hp[s] = min(hp[s] + hpr[s] * lu, hp_max[s])
                energy[s] = min(energy[s] + enr[s] * lu, en_max[s])
        if loop[g] >= shield_next[g]:
            first = math.inf
            for s in range(g * cap, (g + 1) * cap):
                since = max(last_damage[s] + (delay[s] - 1), synced[g])
                active = max(loop[g] - since, 0)
                shield[s] = min(shield[s] + shr[s] * active, sh_max[s])
                if alive[s] and shield[s] < sh_max[s]:
                    first = min(first, float(last_damage[s] + delay[s]))
            shield_next[g] = first
        synced[g] = loop[g]


@njit(cache=True)
def alive_changed(games, cap, alive, owner, air, hits_air, hits_ground, armed, bio, r, disp, speed, hp_regen,
                  sh_regen, en_regen, gbase, c1, c2, stalemate, hpr, shr, enr, alive_cols, cand, cand_r, hittable,
                  healable, inv_closing, crowd_u, crowd_reach, healer, counted, by_structures):  # fmt: skip
    """BatchedEngine._alive_changed for ``games`` (indices): side counts (of the ``counted`` slots: structures in
    games under the structures defeat rule, which have no stalemate), stalemate, regeneration of the living,
    scan candidates (the living in slot order, then the dead) and what each kind of scanner may hit or heal,
    closing speeds and crowd radii. Returns the living healers (all games, slot order) and their side keys
    (game x 3 + owner)."""
    for g in games:
        base = g * cap
        count = np.zeros(3, np.int64)
        air_side = np.zeros(3, np.bool_)
        ground_side = np.zeros(3, np.bool_)
        area = np.zeros(3)
        disp_max = 0.0
        first = True
        for s in range(base, base + cap):
            if alive[s]:
                o = owner[s]
                if counted[s]:
                    count[o] += 1
                if air[s]:
                    air_side[o] = True
                else:
                    ground_side[o] = True
                    area[o] += r[s] * r[s]
                disp_max = disp[s] if first else max(disp_max, disp[s])
                first = False
        can = False
        for s in range(base, base + cap):
            if alive[s] and armed[s]:
                e = 3 - owner[s]
                if (hits_air[s] and air_side[e]) or (hits_ground[s] and ground_side[e]):
                    can = True
        c1[g], c2[g] = count[1], count[2]
        stalemate[g] = not can and not by_structures[g]
        k = 0
        for dead in range(2):
            for s in range(base, base + cap):
                if alive[s] != (dead == 0):
                    continue
                alive_cols[g, k] = s - base
                cand[g, k] = s
                cand_r[g, k] = r[s]
                for code in range(8):
                    hits = ((code & 2) > 0) if air[s] else ((code & 1) > 0)
                    hittable[g, code, k] = alive[s] and owner[s] != (2 if code >= 4 else 1) and hits
                for side in range(2):
                    healable[g, side, k] = alive[s] and bio[s] and owner[s] == side + 1
                k += 1
        for s in range(base, base + cap):
            live = 1.0 if alive[s] else 0.0
            hpr[s] = hp_regen[s] * live
            shr[s] = sh_regen[s] * live
            enr[s] = en_regen[s] * live
            inv_closing[s] = 1.0 / max(disp[s] + disp_max, 1e-12)
            cu = 2.0 * math.sqrt(area[owner[s]])
            crowd_u[s] = cu
            crowd_reach[s] = cu + speed[s]
    count = 0
    for s in range(alive.size):
        if healer[s] and alive[s]:
            count += 1
    slots = np.empty(count, np.int64)
    side = np.empty(count, np.int64)
    k = 0
    for s in range(alive.size):
        if healer[s] and alive[s]:
            slots[k] = s
            side[k] = (s // cap) * 3 + owner[s]
            k += 1
    return slots, side


@njit(cache=True)
def _pairwise_block(a, lo, hi):
    """numpy's pairwise sum of a run of at most 128 (``pairwise_sum``'s leaves): in order below 8, else 8
    interleaved partial sums combined as a tree, then the rest in order."""
    n = hi - lo
    if n < 8:
        res = -0.0
        for i in range(lo, hi):
            res += a[i]
        return res
    r0, r1, r2, r3, r4, r5, r6, r7 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3], a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = lo + 8
    end = hi - n % 8
    while i < end:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < hi:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def pairwise_sum(a, lo, hi):
    """numpy's pairwise float sum of a[lo:hi] (what np.add.reduce / reduceat run on a contiguous float64 run):
    above 128 the halves (the first a multiple of 8 long) summed alike and added. The halving runs on an explicit
    stack, not by recursion: numba's disk cache cannot reload a recursive function (the process crashes)."""
    if hi - lo <= 128:
        return _pairwise_block(a, lo, hi)
    los, his, stage, sums = np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64, np.int64), np.empty(64)
    los[0], his[0], stage[0] = lo, hi, 0
    top, done = 0, 0  # the frame being evaluated; the sums of finished halves waiting for their sibling
    while top >= 0:
        start, stop = los[top], his[top]
        n = stop - start
        if n <= 128:
            sums[done] = _pairwise_block(a, start, stop)
            done += 1
            top -= 1
            continue
        half = n // 2
        half -= half % 8
        if stage[top] == 2:  # both halves summed: first + second
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            top -= 1
            continue
        first = stage[top] == 0
        stage[top] += 1
        top += 1
        los[top], his[top], stage[top] = (start, start + half, 0) if first else (start + half, stop, 0)
    return sums[0]


@njit(cache=True, inline="always")
def _segment_sum(a, lo, hi):
    """np.add.reduceat's value for the segment a[lo:hi]: its first element plus the pairwise sum of the rest."""
    return a[lo] if hi - lo == 1 else a[lo] + pairwise_sum(a, lo + 1, hi)


@njit(cache=True)
def fire_due(shoot, ready, tu, d, fire_hi, fire_lo, cap, fire, games, counts):
    """The weapons that fire this loop (ready, target within [fire_lo, fire_hi]) into ``fire`` in slot order, their
    games marked in ``games`` and counted per game in ``counts``; returns how many."""
    k = 0
    for s in range(shoot.size):
        if shoot[s] and ready[s] <= tu[s] and d[s] <= fire_hi[s] and d[s] >= fire_lo[s]:
            fire[k] = s
            k += 1
            g = s // cap
            games[g] = True
            counts[g] += 1
    return k


@njit(cache=True)
def volley(fire, counts, cap, gid, gbase, tu, t_g, ready, period, jitter_on, jbuf, jpos, heading, dz, target, plain,
           suicide, splash_at_attacker, attacks, splashes, splash_r, splash_f, splash_friendly, cand, z, r, air,
           hits_air, hits_ground, alive, owner, ut, raw_table, shield, armor, hp, last_damage, shield_next, delay_min,
           wake, bio, healer_slots, healer_side, next_scan, idle_armed, dirty_g):  # fmt: skip
    """BatchedEngine._fire after the due weapons are known (``fire``, slot order; their games synced and jitter
    buffered): cooldowns (with each game's jitter draws, in slot order), headings, the volleys' hit rows
    (Engine._volley_rows: one per attack, splash rows per splasher in candidate order, stably sorted by victim),
    hits resolved per victim in row order as combat.resolve_hits and summed as np.add.reduceat, healers woken,
    retaliation. Returns (primary target per shot, splash attackers, splash victims, killed units sorted,
    their killers) for the events and ``_kill``."""
    nf = fire.size
    primary = np.empty(nf, np.int64)
    rank = 0
    for k in range(nf):
        s = fire[k]
        g = gid[s]
        rank = rank + 1 if k > 0 and gid[fire[k - 1]] == g else 0
        p = period[s]
        if jitter_on:
            p = p + jbuf[g, jpos[g] + rank]
        due = ready[s]
        t = tu[s]
        ready[s] = (due if due > t - 1 else float(t)) + p
        heading[s] = dz[s]
        primary[k] = gbase[s] + target[s]
    if jitter_on:
        for g in range(counts.size):
            jpos[g] += counts[g]
    # hit rows
    all_plain = True
    for k in range(nf):
        if not plain[fire[k]]:
            all_plain = False
    if all_plain:
        rows = nf
        att = fire.copy()
        vic = primary.copy()
        frac = np.ones(nf)
        n_splash = 0
        s_att = np.empty(0, np.int64)
        s_vic = np.empty(0, np.int64)
        n_bombers = 0
        bombers = np.empty(0, np.int64)
    else:
        rows = 0
        n_splash = 0
        n_bombers = 0
        for k in range(nf):
            s = fire[k]
            if not splash_at_attacker[s]:
                rows += attacks[s]
            if splashes[s]:
                n_splash += cap
            if suicide[s]:
                n_bombers += 1
        att = np.empty(rows + n_splash, np.int64)
        vic = np.empty(rows + n_splash, np.int64)
        frac = np.ones(rows + n_splash)
        bombers = np.empty(n_bombers, np.int64)
        i = 0
        b = 0
        for k in range(nf):
            s = fire[k]
            if suicide[s]:
                bombers[b] = s
                b += 1
            if not splash_at_attacker[s]:
                for _ in range(attacks[s]):
                    att[i] = s
                    vic[i] = primary[k]
                    i += 1
        first_splash = i
        zones = splash_r.shape[1]
        for k in range(nf):
            s = fire[k]
            if not splashes[s]:
                continue
            at_self = splash_at_attacker[s]
            centre = s if at_self else primary[k]
            zc = z[centre]
            g = gid[s]
            for c in range(cap):
                v = cand[g, c]
                if not alive[v] or v == s or (v == primary[k] and not at_self):
                    continue
                if not (hits_air[s] if air[v] else hits_ground[s]):
                    continue
                if not splash_friendly[s] and owner[v] == owner[s]:
                    continue
                w = z[v] - zc
                distance = cabs(w.real, w.imag) - r[v]
                f = 0.0
                for zone in range(zones):
                    radius = splash_r[s, zone]
                    if radius > 0.0 and distance <= radius:
                        f = splash_f[s, zone]
                        break
                if f > 0.0:
                    att[i] = s
                    vic[i] = v
                    frac[i] = f
                    i += 1
        rows = i
        att, vic, frac = att[:rows], vic[:rows], frac[:rows]
        n_splash = rows - first_splash
        s_att = att[first_splash:].copy()
        s_vic = vic[first_splash:].copy()
    if rows > 1:
        order = np.argsort(vic, kind="mergesort")
        att, vic, frac = att[order], vic[order], frac[order]
    # resolve hits per victim (rows of one victim are consecutive, in row order)
    raw = np.empty(rows)
    any_shields = False
    for i in range(rows):
        raw[i] = raw_table[ut[att[i]], ut[vic[i]]] * frac[i]
        if shield[vic[i]] != 0.0:
            any_shields = True
            g = gid[vic[i]]
            shield_next[g] = min(shield_next[g], float(t_g[g] + delay_min[g]))
    groups = 0
    for i in range(rows):
        if i == 0 or vic[i] != vic[i - 1]:
            groups += 1
    single = groups == rows
    absorbed = np.zeros(rows)
    loss = np.empty(rows)
    start = 0
    for i in range(rows):
        if i > 0 and vic[i] != vic[i - 1]:
            start = i
        v = vic[i]
        if not any_shields:
            loss[i] = max(raw[i] - armor[v], 0.5)
            continue
        if single:
            a = min(max(shield[v], 0.0), raw[i])
        else:
            before = 0.0
            for j in range(start, i):
                before += raw[j]
            a = min(max(shield[v] - before, 0.0), raw[i])
        absorbed[i] = a
        rest = raw[i] - a
        floor = 0.0 if a > 0.0 else 0.5
        loss[i] = max(rest - armor[v], floor) if rest > 0.0 else 0.0
    starts = np.empty(groups, np.int64)
    j = 0
    for i in range(rows):
        if i == 0 or vic[i] != vic[i - 1]:
            starts[j] = i
            j += 1
    side = np.zeros(3 * counts.size, np.bool_)
    woken = False
    dying = 0
    for j in range(groups):
        lo = starts[j]
        hi = starts[j + 1] if j + 1 < groups else rows
        v = vic[lo]
        if any_shields:
            took = absorbed[lo] if single else _segment_sum(absorbed, lo, hi)
            shield[v] = max(shield[v] - took, 0.0)
        hp[v] -= loss[lo] if single else _segment_sum(loss, lo, hi)
        last_damage[v] = tu[v]
        if wake and bio[v]:
            side[gid[v] * 3 + owner[v]] = True
            woken = True
        if hp[v] <= 0.0:
            dying += 1
    if woken:
        for h in range(healer_slots.size):
            if side[healer_side[h]]:
                slot = healer_slots[h]
                next_scan[slot] = min(next_scan[slot], tu[slot] + 1)
    for j in range(groups):  # retaliation: idle armed victims still alive fight back at their first attacker
        v = vic[starts[j]]
        a = att[starts[j]]
        if (idle_armed[v] and hp[v] > 0.0 and owner[a] != owner[v]
                and (hits_air[v] if air[a] else hits_ground[v]) and alive[a] and not suicide[a]):  # fmt: skip
            target[v] = a - gbase[a]
            idle_armed[v] = False
            dirty_g[gid[v]] = True
    dead = np.empty(dying + n_bombers, np.int64)
    killers = np.empty(dying + n_bombers, np.int64)
    k = 0
    for j in range(groups):
        v = vic[starts[j]]
        if hp[v] <= 0.0:
            dead[k] = v
            killers[k] = att[starts[j + 1] - 1 if j + 1 < groups else rows - 1]
            k += 1
    for b in range(n_bombers):
        dead[k] = bombers[b]
        killers[k] = bombers[b]
        k += 1
    if k > 1:  # np.unique(..., return_index=True): sorted, the first occurrence's killer
        order = np.argsort(dead, kind="mergesort")
        dead, killers = dead[order], killers[order]
        keep = np.ones(k, np.bool_)
        for i in range(1, k):
            if dead[i] == dead[i - 1]:
                keep[i] = False
        dead, killers = dead[keep], killers[keep]
    return primary, s_att[:n_splash], s_vic[:n_splash], dead, killers


@njit(cache=True, inline="always")
def _np_min(a, b):
    """np.minimum of two floats (NaN propagates)."""
    if a != a:
        return a
    if b != b:
        return b
    return a if a <= b else b


@njit(cache=True)
def heal_stop(games, cap, heal_in, drain, lazy):
    """BatchedEngine._heal_stop: end lazy healing in ``games`` (bool mask)."""
    for g in range(games.size):
        if games[g]:
            heal_in[g * cap : (g + 1) * cap] = 0.0
            drain[g * cap : (g + 1) * cap] = 0.0
            lazy[g] = False


@njit(cache=True)
def heal(heal_idx, heal_tgt, heal_hi_h, heal_rate_h, heal_cost_h, heal_max_t, heal_unique, gid, cap, d, t_g, tu,
         frozen, any_frozen, killed, any_killed, alive, lazy, heal_until, heal_from, heal_on, heal_in, drain, loop,
         synced, shield_next, hp, energy, shield, hpr, enr, shr, hp_max, en_max, sh_max, last_damage, delay, target,
         next_scan, dirty_g):  # fmt: skip
    """BatchedEngine._heal and _heal_start: healers heal their targets for this loop, exactly (sequential_cap over
    shared targets, sums per target in row order) or by the lazy rates of games whose window holds; games that
    healed exactly with unique targets and none full switch to lazy healing when every healer's rate stays
    constant. Returns the (healers, targets) of the lazy and of the exact heal events."""
    nh = heal_idx.size
    games = lazy.size
    ok = np.empty(nh, np.bool_)
    work = np.ones(nh, np.bool_)
    for i in range(nh):
        ok[i] = d[heal_idx[i]] <= heal_hi_h[i]
    lazy_h = np.empty(0, np.int64)
    lazy_t = np.empty(0, np.int64)
    settle = np.zeros(games, np.bool_)
    if lazy.any():
        keep = np.zeros(games, np.bool_)
        for g in range(games):
            keep[g] = lazy[g] and t_g[g] <= heal_until[g] and not (any_killed and killed[g])
        for i in range(nh):
            if ok[i] != heal_on[heal_idx[i]]:
                keep[gid[heal_idx[i]]] = False
        if keep.any():
            count = 0
            for i in range(nh):
                if keep[gid[heal_idx[i]]]:
                    work[i] = False
                    if heal_on[heal_idx[i]]:
                        count += 1
            lazy_h = np.empty(count, np.int64)
            lazy_t = np.empty(count, np.int64)
            k = 0
            for i in range(nh):
                if not work[i] and heal_on[heal_idx[i]]:
                    lazy_h[k] = heal_idx[i]
                    lazy_t[k] = heal_tgt[i]
                    k += 1
        for g in range(games):
            settle[g] = lazy[g] and not keep[g]
    healing = np.zeros(games, np.bool_)
    for i in range(nh):
        h = heal_idx[i]
        if any_frozen and (frozen[h] or not alive[heal_tgt[i]]):
            ok[i] = False
        ok[i] = ok[i] and work[i]
        if ok[i]:
            healing[gid[h]] = True
    if settle.any():  # one sync for both (the exact games are not lazy: same values)
        sync(settle | healing, loop, synced, lazy, heal_from, shield_next, cap, hp, energy, shield, hpr, enr, shr,
             heal_in, drain, hp_max, en_max, sh_max, last_damage, delay, alive)  # fmt: skip
        heal_stop(settle, cap, heal_in, drain, lazy)
    if not ok.any():
        return lazy_h, lazy_t, np.empty(0, np.int64), np.empty(0, np.int64)
    sync(healing, loop, synced, lazy, heal_from, shield_next, cap, hp, energy, shield, hpr, enr, shr, heal_in, drain,
         hp_max, en_max, sh_max, last_damage, delay, alive)  # fmt: skip
    # combat.sequential_cap(target, want, hp_max - hp)
    en = np.empty(nh)
    want = np.empty(nh)
    for i in range(nh):
        en[i] = energy[heal_idx[i]]
        want[i] = min(heal_rate_h[i], en[i] / heal_cost_h[i]) * (1.0 if ok[i] else 0.0)
    got = np.empty(nh)
    order = np.argsort(heal_tgt, kind="mergesort")  # rows of one target together, in row order
    distinct = True
    for j in range(1, nh):
        if heal_tgt[order[j]] == heal_tgt[order[j - 1]]:
            distinct = False
    before = 0.0
    for j in range(nh):
        i = order[j]
        t = heal_tgt[i]
        room = hp_max[t] - hp[t]
        if nh == 1 or distinct:
            got[i] = min(max(room, 0.0), want[i])
        else:
            if j == 0 or t != heal_tgt[order[j - 1]]:
                before = 0.0
            got[i] = min(max(room - before, 0.0), want[i])
            before += want[i]
    acc = 0.0
    for j in range(nh):  # hp += np.bincount(target, got): per target, summed from 0 in row order
        i = order[j]
        acc += got[i]
        if j == nh - 1 or heal_tgt[order[j + 1]] != heal_tgt[i]:
            hp[heal_tgt[i]] += acc
            acc = 0.0
    healed = 0
    topped = np.zeros(games, np.bool_)
    hp_t = np.empty(nh)
    for i in range(nh):
        h = heal_idx[i]
        if work[i]:
            en[i] = max(en[i] - got[i] * heal_cost_h[i], 0.0)
        energy[h] = en[i]
        if got[i] > 0.0:
            healed += 1
        hp_t[i] = hp[heal_tgt[i]]
        if ok[i] and hp_t[i] >= heal_max_t[i]:  # full: the healer looks for another target
            target[h] = -1
            next_scan[h] = tu[h] + 1
            dirty_g[gid[h]] = True
            topped[gid[h]] = True
    heal_h = np.empty(healed, np.int64)
    heal_t = np.empty(healed, np.int64)
    k = 0
    for i in range(nh):
        if got[i] > 0.0:
            heal_h[k] = heal_idx[i]
            heal_t[k] = heal_tgt[i]
            k += 1
    start = np.zeros(games, np.bool_)
    for g in range(games):
        start[g] = healing[g] and heal_unique[g] and not topped[g]
    if start.any():
        _heal_start(start, work, ok, got, hp_t, en, heal_idx, heal_tgt, heal_rate_h, heal_cost_h, heal_max_t, gid,
                    cap, t_g, hpr, enr, en_max, heal_in, drain, heal_from, heal_until, heal_on, lazy)  # fmt: skip
    return lazy_h, lazy_t, heal_h, heal_t


@njit(cache=True)
def _heal_start(start, work, on, got, hp, energy, heal_idx, heal_tgt, heal_rate_h, heal_cost_h, heal_max_t, gid,
                cap, t_g, hpr, enr, en_max, heal_in, drain, heal_from, heal_until, heal_on, lazy):  # fmt: skip
    """BatchedEngine._heal_start for the games of ``start``: per game, lazy healing when every healer in range
    (``on``) heals at a constant rate (full, or the trickle its energy regeneration buys), for the loops no
    target can fill up and no full-rate healer run short of energy."""
    games = start.size
    window = np.full(games, np.inf)
    has = np.zeros(games, np.bool_)
    bad = np.zeros(games, np.bool_)
    nh = heal_idx.size
    flow = np.zeros(nh)
    drains = np.zeros(nh)
    for i in range(nh):
        h = heal_idx[i]
        g = gid[h]
        if not (start[g] and work[i] and on[i]):
            continue
        has[g] = True
        rate, cost = heal_rate_h[i], heal_cost_h[i]
        regen_hp, regen_en = hpr[heal_tgt[i]], enr[h]
        full_rate = got[i] == rate
        trickle = energy[i] <= 1e-9 and got[i] > 0.0 and regen_en < rate * cost
        en = energy[i] + regen_en
        if not (full_rate or trickle) or en > en_max[h]:
            bad[g] = True
        f = rate if full_rate else regen_en / cost
        dr = f * cost
        flow[i], drains[i] = f, dr
        missing = heal_max_t[i] - hp[i] - regen_hp
        loops = math.floor(missing / (f + regen_hp)) - 1.0
        if full_rate and dr > regen_en:
            loops = _np_min(loops, math.floor((en - dr) / (dr - regen_en)))
        window[g] = _np_min(window[g], loops)
    ok = np.zeros(games, np.bool_)
    for g in range(games):
        ok[g] = has[g] and window[g] >= 1.0 and not bad[g]
    if not ok.any():
        return
    for i in range(nh):
        h = heal_idx[i]
        g = gid[h]
        if not ok[g]:
            continue
        if start[g] and work[i] and on[i]:
            heal_in[heal_tgt[i]] = flow[i]
            drain[h] = drains[i]
        heal_on[h] = on[i]
    for g in range(games):
        if ok[g]:
            heal_from[g] = t_g[g]
            heal_until[g] = t_g[g] + np.int64(window[g])
            lazy[g] = True


@njit(cache=True)
def healer_rows(healing, gu, heal_hi, heal_rate, heal_cost, hp_max, gid, games):
    """The healers with a target after a refresh (slot order), their targets and per-row stats, and per game
    whether no two of its healers share a target (BatchedEngine._refresh's tail)."""
    count = 0
    for s in range(healing.size):
        if healing[s]:
            count += 1
    idx = np.empty(count, np.int64)
    tgt = np.empty(count, np.int64)
    k = 0
    for s in range(healing.size):
        if healing[s]:
            idx[k] = s
            tgt[k] = gu[s]
            k += 1
    unique = np.ones(games, np.bool_)
    ordered = np.sort(tgt)
    for k in range(1, count):
        if ordered[k] == ordered[k - 1]:
            unique[gid[ordered[k]]] = False
    return idx, tgt, heal_hi[idx], heal_rate[idx], heal_cost[idx], hp_max[tgt], unique


@njit(cache=True)
def kill(dead, cap, gid, gbase, alive, hp, shield, okind, ounit, olen, target, next_scan, tu, lazy, heal_idx,
         heal_tgt, heal_in, drain, gu, dirty_g):  # fmt: skip
    """BatchedEngine._kill before ``_alive_changed``: ``dead`` leave play (orders and targets cleared), units
    targeting them lose the target and rescan next loop, lazy heals touching them stop. Returns (units frozen
    this loop: the dead and those whose goal unit died, games with deaths)."""
    n = alive.size
    killed = np.zeros(n, np.bool_)
    games = np.zeros(lazy.size, np.bool_)
    for s in dead:
        alive[s] = False
        hp[s] = 0.0
        shield[s] = 0.0
        okind[s, :] = _IDLE
        ounit[s, :] = -1
        olen[s] = 0
        target[s] = -1
        killed[s] = True
        games[gid[s]] = True
    for s in range(n):
        if target[s] >= 0 and killed[gbase[s] + target[s]]:
            target[s] = -1
            next_scan[s] = tu[s] + 1
    if lazy.any():
        stop = np.zeros(lazy.size, np.bool_)
        for i in range(heal_idx.size):
            if killed[heal_idx[i]] or killed[heal_tgt[i]]:
                stop[gid[heal_idx[i]]] = True
        for g in range(lazy.size):
            stop[g] = stop[g] and lazy[g]
        heal_stop(stop, cap, heal_in, drain, lazy)  # ``_fire`` synced these games to t - 1 before the damage
    frozen = np.empty(n, np.bool_)
    for s in range(n):
        frozen[s] = killed[s] or killed[gu[s]]
    for g in range(lazy.size):
        if games[g]:
            dirty_g[g] = True
    return frozen, games


@njit(cache=True)
def check_done(games, loop, c1, c2, stalemate, limit, winner):
    """Engine._check_done for the running ``games`` (bool mask): a side without units loses (a draw when both are
    gone), a draw at the time limit or in a stalemate. Returns how many games ended now."""
    ended = 0
    for g in range(loop.size):
        if games[g] and winner[g] < 0:
            out = c1[g] == 0 or c2[g] == 0
            if out or stalemate[g] or loop[g] >= limit[g]:
                winner[g] = (0 if c1[g] == c2[g] else (1 if c2[g] == 0 else 2)) if out else 0
                ended += 1
    return ended


@njit(cache=True)
def end_loop(loop, run, c1, c2, stalemate, limit, winner, t, tu, cap):
    """After a loop: running games advance their loop counter and those that are over end (``check_done``); ``t``
    / ``tu`` become the next loop per game / per slot. Returns how many games ended."""
    for g in range(loop.size):
        if run[g]:
            loop[g] += 1
        t[g] = loop[g] + 1
    for s in range(tu.size):
        tu[s] = t[s // cap]
    return check_done(run, loop, c1, c2, stalemate, limit, winner)


@njit(cache=True)
def _grid(pz, pr):
    """movement._grid_pairs' cell keys of the positions ``pz`` (cells of twice the largest reach ``pr``), their
    stable order and the grid height."""
    n = pz.size
    cell = 2.0 * pr.max()
    x0, y0 = pz.real.min(), pz.imag.min()
    height = 0
    for i in range(n):
        height = max(height, np.int64(math.floor((pz[i].imag - y0) / cell)))
    height += 3
    key = np.empty(n, np.int64)
    for i in range(n):
        gx = np.int64(math.floor((pz[i].real - x0) / cell))
        gy = np.int64(math.floor((pz[i].imag - y0) / cell))
        key[i] = gx * height + gy + 1
    order = np.argsort(key, kind="mergesort")
    return key[order], order, height


@njit(cache=True)
def _game_pairs(slots, z, reach, dense_below, out_a, out_b, k):
    """movement.candidate_pairs for one game's ground ``slots`` (slot order): pairs (i < j) whose centres are within
    reach[i] + reach[j], in candidate_pairs' order (all pairs in slot order below ``dense_below`` units, else
    _grid_pairs' cell order), written from ``out_a[k]`` on; returns the new end."""
    n = slots.size
    if n < 2:
        return k
    if n < dense_below:
        for i in range(n):
            a = slots[i]
            for j in range(i + 1, n):
                b = slots[j]
                if _within(z[b] - z[a], reach[a] + reach[b], True):
                    out_a[k] = a
                    out_b[k] = b
                    k += 1
        return k
    pz = z[slots]
    pr = reach[slots]
    sorted_key, order, height = _grid(pz, pr)
    for offset in (0, height - 1, height, height + 1, 1):  # same cell, then the right column, then the cell above
        los = np.searchsorted(sorted_key, sorted_key + offset, side="left")
        his = np.searchsorted(sorted_key, sorted_key + offset, side="right")
        for rank in range(n):
            i = order[rank]
            for m in range(rank + 1 if offset == 0 else los[rank], his[rank]):
                j = order[m]
                if _within(pz[j] - pz[i], pr[i] + pr[j], True):
                    a, b = slots[i], slots[j]
                    out_a[k] = min(a, b)
                    out_b[k] = max(a, b)
                    k += 1
    return k


@njit(cache=True)
def _bound(n, pz, pr, dense_below):
    """How many pairs ``_game_pairs`` may write for n ground units (before the distance test)."""
    if n < 2:
        return 0
    if n < dense_below:
        return n * (n - 1) // 2
    sorted_key, order, height = _grid(pz, pr)
    total = 0
    for offset in (0, height - 1, height, height + 1, 1):
        los = np.searchsorted(sorted_key, sorted_key + offset, side="left")
        his = np.searchsorted(sorted_key, sorted_key + offset, side="right")
        for rank in range(n):
            total += max(his[rank] - (rank + 1 if offset == 0 else los[rank]), 0)
    return total


@njit(cache=True)
def build_pairs(run, t, pairs_until, window, cap, alive, air, solid, z, reach, can_move, r, pi, pj, rsum,
                dense_below):  # fmt: skip
    """The running games due (``t >= pairs_until``) get new collision candidates for their next ``window`` loops
    (Engine._build_pairs' pairs of solid ground units, in its order per game, where a mover takes part); the other
    games keep theirs,
    first. Returns (pi, pj, rsum), the same arrays when no game was due."""
    games = run.size
    due = np.zeros(games, np.bool_)
    for g in range(games):
        due[g] = run[g] and t[g] >= pairs_until[g]
    if not due.any():
        return pi, pj, rsum
    ground = []
    bound = 0
    for g in range(games):
        count = 0
        if due[g]:
            for s in range(g * cap, (g + 1) * cap):
                if alive[s] and not air[s] and solid[s]:
                    count += 1
        slots = np.empty(count, np.int64)
        count = 0
        if due[g]:
            for s in range(g * cap, (g + 1) * cap):
                if alive[s] and not air[s] and solid[s]:
                    slots[count] = s
                    count += 1
            bound += _bound(count, z[slots], reach[slots], dense_below)
        ground.append(slots)
    new_a = np.empty(bound, np.int64)
    new_b = np.empty(bound, np.int64)
    total = 0
    for g in range(games):
        if due[g]:
            total = _game_pairs(ground[g], z, reach, dense_below, new_a, new_b, total)
    kept = 0
    for i in range(pi.size):
        if not due[pi[i] // cap]:
            kept += 1
    for i in range(total):
        if can_move[new_a[i]] or can_move[new_b[i]]:
            kept += 1
    out_i = np.empty(kept, np.int64)
    out_j = np.empty(kept, np.int64)
    out_r = np.empty(kept)
    k = 0
    for i in range(pi.size):
        if not due[pi[i] // cap]:
            out_i[k], out_j[k], out_r[k] = pi[i], pj[i], rsum[i]
            k += 1
    for i in range(total):
        a, b = new_a[i], new_b[i]
        if can_move[a] or can_move[b]:
            out_i[k], out_j[k], out_r[k] = a, b, r[a] + r[b]
            k += 1
    for g in range(games):
        if due[g]:
            pairs_until[g] = t[g] + window
    return out_i, out_j, out_r
