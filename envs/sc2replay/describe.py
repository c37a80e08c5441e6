"""The human-readable summary of a read replay (what ``pstar replays info FILE.SC2Replay`` prints)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from envs.sc2replay.reader import SC2Replay
from envs.sc2replay.sample import MISSING_COLUMNS

_TOP = 8  # most frequent unmapped names listed


def describe(replay: SC2Replay) -> str:
    """Metadata, sample counts and every approximation of ``replay``, one fact per line."""
    info, stats = replay.info, replay.stats
    minutes, seconds = divmod(info.game_seconds, 60)
    lines = [
        Path(info.path).name,
        f"  release {info.release} (base build {info.base_build}), {_protocol(replay)}",
        f"  map {info.map_name}, {info.map_size[0]} x {info.map_size[1]} map units; "
        f"{'matchmaking' if info.matchmaking else 'custom'} game; speed {info.game_speed}",
        f"  length {info.game_loops} game loops = {info.game_seconds:.1f} s ({int(minutes)}:{int(seconds):02d}) "
        f"at Faster speed ({info.loops_per_second:g} loops per game second)",
        "  players:",
    ]
    for p in info.players:
        who = "human" if p.is_human else f"AI, difficulty {p.difficulty}, build {p.ai_build or 'not recorded'}"
        recorded = "" if p.commands_recorded else " (commands not recorded: no samples)"
        lines.append(f"    {p.id}  {p.name:<20} {p.race:<8} {p.result:<9} team {p.team}  {who}{recorded}")
    per_player = ", ".join(f"player {p}: {n}" for p, n in stats["samples_per_player"].items())
    lines += [
        f"  ability names: {_datapacks(info.ability_datapacks, info.base_build, info.ability_check)}",
        f"  commands: {stats['commands_read']} human commands read -> {stats['samples']} samples ({per_player}); "
        f"{stats['mapped_share']:.1%} mapped to an action type; {stats['command_repeats']} command repeats "
        f"(CommandManagerStateEvent) not sampled",
        f"  skipped: {_counts(stats['skipped'])}",
        f"  unmapped abilities: {_counts(stats['unmapped_abilities'])}",
        f"  units: mean {stats['rows_mean']:.0f} rows, max {stats['rows_max']}; {stats['rows_truncated']} samples "
        f"cut at max_units; unit types without a pysc2 id (unit_type 0): {_counts(stats['unmapped_unit_types'])}; "
        f"left out (UI markers): {sum(stats['ignored_unit_types'].values())}",
        f"  positions: last recorded by tracker events, median staleness {stats['median_position_staleness']:.0f} "
        f"loops (own units {stats['median_own_position_staleness']:.0f}); minerals, vespene and supply from "
        f"player-stats events {stats['mean_stats_age']:.0f} loops old on average",
        f"  selection: mean {stats['selection_size_mean']:.1f} units, max {stats['selection_size_max']}; unknown "
        f"(before the first selection event) in {stats['selection_unknown']} samples; {stats['selection_truncated']} "
        f"cut at 64; {stats['selected_missing']} selected units not in the rows; {stats['selection_errors']} "
        f"selection deltas that did not fit; {stats['target_unit_missing']} target units not in the rows",
        f"  not recorded (0 in every sample): {', '.join(MISSING_COLUMNS)}",
        "  no fog in replays: enemy counts are all enemy units; available_actions is all True (a replay does not "
        "say what was available)",
    ]
    lines += [f"  note: {note}" for note in info.notes]
    return "\n".join(lines)


def _protocol(replay: SC2Replay) -> str:
    info = replay.info
    if info.build_fallback and info.metadata_decoder == "sc2reader":
        return (
            f"s2protocol {info.s2protocol_version} has no protocol for build {info.build}: details and init data "
            f"decoded by sc2reader (build {info.protocol_build}'s decoding rejected)"
        )
    if info.build_fallback:
        return (
            f"s2protocol {info.s2protocol_version} has no protocol for build {info.build}: decoded with build "
            f"{info.protocol_build}'s (build fallback, checked against sc2reader's decoding)"
        )
    return f"decoded with s2protocol {info.s2protocol_version}'s protocol {info.protocol_build}"


def _datapacks(packs: tuple[str, ...], base_build: int, check: str | None) -> str:
    if not packs:
        return "none (no sc2reader datapack for this expansion): every ability is unknown"
    checked = f"; {check}" if check else ""
    if len(packs) == 2:
        return (
            f"sc2reader datapacks {packs[0]} and {packs[1]} (no table for base build {base_build}: only the ability "
            f"ids both name alike are named, the rest are unknown{checked})"
        )
    if packs[0] == str(base_build):
        return f"sc2reader datapack {packs[0]} (the replay's own)"
    return f"sc2reader datapack {packs[0]} ({check or 'newest, unchecked'})"


def _counts(counter: Counter) -> str:
    if not counter:
        return "none"
    top = ", ".join(f"{name} x{n}" for name, n in counter.most_common(_TOP))
    rest = len(counter) - _TOP
    return f"{sum(counter.values())} ({top}{f', and {rest} more' if rest > 0 else ''})"
