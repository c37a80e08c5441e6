""".SC2Replay files read without the game: metadata, and per human command a behaviour-cloning sample.

``read_replay(path)`` -> ``SC2Replay`` (``info``: builds, map, length, players; ``samples``: per human player,
one ``CommandSample`` per command with the approximate observation and the contract action; ``stats``: what was
counted, approximated or skipped). ``describe(replay)`` is the summary ``pstar replays info`` prints. Needs the
optional ``sc2`` extra (s2protocol, sc2reader, pysc2-evolved) when called, not when imported.
"""

from envs.sc2replay.describe import describe
from envs.sc2replay.errors import ReplayReadError
from envs.sc2replay.info import PlayerInfo, ReplayInfo
from envs.sc2replay.reader import SC2Replay, read_replay, read_replays
from envs.sc2replay.sample import CommandSample

__all__ = [
    "CommandSample",
    "PlayerInfo",
    "ReplayInfo",
    "ReplayReadError",
    "SC2Replay",
    "describe",
    "read_replay",
    "read_replays",
]
