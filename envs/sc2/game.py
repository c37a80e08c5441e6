"""The game behind the env: the install check, and pysc2's ``SC2Env`` with the raw ``Features`` the env converts with.

``check_game_installed`` looks where pysc2's run configs look (``SC2PATH``, else the platform default:
``~/StarCraftII`` on Linux, ``C:/Program Files (x86)/StarCraft II`` on Windows and ``/Applications/StarCraft II`` on
macOS, unless the launcher's ``ExecuteInfo.txt`` says otherwise) before anything is launched, and raises one
``SC2NotInstalledError`` saying where the game (or the map) was expected.

``Game`` runs pysc2's own ``sc2_env.SC2Env`` (launch, create and join with the bot, step_mul, episode length,
outcome, restarts) in passthrough mode (``InterfaceOptions``: raw, score, raw units affect the selection, positions
over the whole map): pysc2 hands back the ``ResponseObservation`` and takes ``sc_pb.Action`` protos, and the
conversion runs through a pysc2 ``Features`` built for each game from its ``ResponseGameInfo`` (raw units, raw
actions, up to 64 selected units), whose ``raw_resolution`` makes a raw pixel one target-grid cell
(``action.LocationGrid``), which needs the map size (known only once the game has started). The available
abilities of own units are asked through pysc2's controller (``RequestQueryAvailableAbilities``); pysc2's
``SC2Env`` has no public handle on its controller, so ``query_abilities`` reads ``_controllers[0]``.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from envs.contract.arguments import MAX_SELECTED_UNITS
from envs.sc2.action import LocationGrid
from envs.sc2.config import SC2EnvConfig
from envs.sc2.extra import require
from envs.sc2.observation import GameFrame

DOWNLOADS = "https://github.com/Blizzard/s2client-proto#downloads"
_DEFAULT_DIRS = {  # platform.system() -> (pysc2's default, the launcher's ExecuteInfo.txt folder, parents to drop)
    "Windows": ("C:/Program Files (x86)/StarCraft II", "~/Documents", 3),
    "Darwin": ("/Applications/StarCraft II", "~/Library/Application Support/Blizzard", 6),
}
_LINUX_DEFAULT = "~/StarCraftII"


class SC2NotInstalledError(RuntimeError):
    """StarCraft II (or the map) is not where pysc2 will look for it."""


def expected_game_dir() -> tuple[Path, str]:
    """Where pysc2 will look for the game, and why there (``SC2PATH`` or the platform's default)."""
    configured = os.environ.get("SC2PATH")
    if configured:
        return Path(configured).expanduser(), "from the SC2PATH environment variable"
    system = platform.system()
    if system in _DEFAULT_DIRS:
        default, info_dir, parents = _DEFAULT_DIRS[system]
        detected = _execute_info(Path(info_dir).expanduser() / "StarCraft II" / "ExecuteInfo.txt", parents)
        if detected is not None:
            return detected, "from the Blizzard launcher's ExecuteInfo.txt"
        return Path(default), f"pysc2's default on {system}; set SC2PATH to change it"
    return Path(_LINUX_DEFAULT).expanduser(), "pysc2's default on Linux; set SC2PATH to change it"


def _execute_info(path: Path, parents: int) -> Path | None:
    """The install folder named by the launcher's ExecuteInfo.txt (as pysc2's ``_read_execute_info``), if any."""
    if not path.is_file():
        return None
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        key, _, value = (part.strip().strip("\0") for part in line.partition("="))
        if key == "executable" and value:
            return Path(value.replace("\\", "/")).parents[parents - 1]
    return None


def check_game_installed(map_paths: Sequence[str] = ()) -> Path:
    """The game's folder; SC2NotInstalledError (one clear message, no traceback chain) if the game is not there,
    or if none of ``map_paths`` (paths under its ``Maps`` folder, pysc2's alternatives for one map) exists."""
    game, why = expected_game_dir()
    versions = game / "Versions"
    if not (versions.is_dir() and any(p.is_dir() and p.name.lower().startswith("base") for p in versions.iterdir())):
        raise SC2NotInstalledError(
            f"StarCraft II is not installed where pysc2 looks for it: {game} ({why}) has no Versions/Base<build> "
            f"folder. Install the game there (Linux packages: {DOWNLOADS}, unzipped to {_LINUX_DEFAULT}) or set "
            "SC2PATH to the folder that holds Versions/."
        ) from None
    if map_paths and not any((game / "Maps" / path).is_file() for path in map_paths):
        raise SC2NotInstalledError(
            f"the map is not installed: expected {game / 'Maps' / map_paths[0]}. Download the map packs "
            f"({DOWNLOADS}, or pysc2's mini-games) and unzip them into {game / 'Maps'}."
        ) from None
    return game


def map_paths(map_name: str) -> list[str]:
    """The files pysc2 tries for ``map_name`` under the game's Maps folder (``run_config.map_data``)."""
    maps = require("pysc2_evolved.maps", "The StarCraft II env")
    known = maps.get_maps()
    if map_name not in known:
        examples = ", ".join(name for name in ("Simple64", "Simple96", "MoveToBeacon") if name in known)
        raise ValueError(f"map_name {map_name!r} is not one of pysc2's {len(known)} maps (e.g. {examples})")
    found = known[map_name]()
    paths = [found.path]
    if found.players:
        paths.append(os.path.join(os.path.dirname(found.path), f"({found.players}){os.path.basename(found.path)}"))
    return paths


def episode_loops(config: SC2EnvConfig) -> int:
    """The game loop at which pysc2 ends an episode (its ``SC2Env._create_join`` rule)."""
    sc2_env = require("pysc2_evolved.env.sc2_env", "The StarCraft II env")
    maps = require("pysc2_evolved.maps", "The StarCraft II env")
    steps = config.game_steps_per_episode
    if steps is None:
        steps = maps.get(config.map_name).game_steps_per_episode
    return steps if 0 < steps <= sc2_env.MAX_STEP_COUNT else sc2_env.MAX_STEP_COUNT


def raw_features(game_info: Any, grid: LocationGrid) -> Any:
    """pysc2's ``Features`` for raw units and raw actions on this game, one raw pixel per ``grid`` cell."""
    features = require("pysc2_evolved.lib.features", "The StarCraft II env")
    point = require("pysc2_evolved.lib.point", "The StarCraft II env")
    aif = features.AgentInterfaceFormat(use_raw_units=True, use_raw_actions=True,
                                        max_selected_units=MAX_SELECTED_UNITS)  # fmt: skip
    aif.raw_resolution = point.Point(*grid.raw_resolution)  # the setter keeps floats (the constructor truncates)
    return features.features_from_game_info(game_info, agent_interface_format=aif)


class Game:
    """One pysc2 ``SC2Env`` (launched here) and, after each ``reset``, the game's ``features``, ``frame``, ``grid``."""

    def __init__(self, config: SC2EnvConfig) -> None:
        sc2_env = require("pysc2_evolved.env.sc2_env", "The StarCraft II env")
        sc_pb = require("s2clientprotocol.sc2api_pb2", "The StarCraft II env")
        maps = require("pysc2_evolved.maps", "The StarCraft II env")
        self.config = config
        self.episode_loops = episode_loops(config)
        players = [config.agent()]
        if maps.get(config.map_name).players != 1:  # pysc2's mini-games are one-player maps: no bot
            players.append(config.opponent_bot())
        interface = sc_pb.InterfaceOptions(raw=True, score=True, raw_affects_selection=True,
                                           raw_crop_to_playable_area=False)  # fmt: skip
        self.env = sc2_env.SC2Env(
            map_name=config.map_name,
            players=players,
            agent_interface_format=interface,
            step_mul=config.step_mul,
            game_steps_per_episode=config.game_steps_per_episode,
            realtime=config.realtime,
            random_seed=config.seed,
        )
        self._unit_types = list(self.env.static_data().unit_stats.values())
        self.features: Any = None
        self.frame: GameFrame | None = None
        self.grid: LocationGrid | None = None

    def reset(self) -> Any:
        """Start a game; pysc2's first TimeStep (its observation is the ResponseObservation)."""
        timestep = self.env.reset()[0]
        game_info = self.env.game_info[0]
        size = game_info.start_raw.map_size
        self.grid = LocationGrid(self.config.map_size, self.config.resolution, (float(size.x), float(size.y)))
        self.features = raw_features(game_info, self.grid)
        self.frame = GameFrame.from_game(game_info, self._unit_types, self.episode_loops)
        return timestep

    def step(self, calls: Sequence[Any], observation: Any) -> Any:
        """Send the raw ``FunctionCall``s (answering ``observation``, a ResponseObservation) and step the game."""
        sent = [self.features.transform_action(observation.observation, call) for call in calls]
        return self.env.step([sent])[0]

    def query_abilities(self, tags: Sequence[int]) -> list[Any]:
        """The game's ``ResponseQueryAvailableAbilities`` for each unit tag (resources and tech taken into account)."""
        if not tags:
            return []
        query_pb = require("s2clientprotocol.query_pb2", "The StarCraft II env")
        request = query_pb.RequestQuery(abilities=[query_pb.RequestQueryAvailableAbilities(unit_tag=t) for t in tags])
        return list(self.env._controllers[0].query(request).abilities)

    def close(self) -> None:
        self.env.close()
