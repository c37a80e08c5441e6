"""The unit table: ``data/units.yaml`` loaded into numpy arrays indexed by unit type index.

The YAML speaks StarCraft II's units (game seconds at Faster, 22.4 loops each); this module also derives the
per-loop values the engine steps with (``speed_loop``, ``cooldown_loops``, ...), so the engine never converts
units itself. Type index order is the file's order; ``index[name]`` maps a name to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from envs.contract.scalars import LOOPS_PER_SECOND
from envs.contract.spec import RACES

UNITS_FILE = Path(__file__).parent / "data" / "units.yaml"
MAX_SPLASH_ZONES = 3

_UNIT_KEYS = {"sc2_id", "race", "hp", "shields", "armor", "speed", "radius", "sight", "attributes", "supply", "air",
              "weapon", "healer", "energy", "hp_regen", "shield_regen", "shield_regen_delay"}  # fmt: skip
_REQUIRED = ("sc2_id", "race", "hp", "armor", "speed", "radius", "sight", "attributes", "supply")
_WEAPON_KEYS = {"damage", "attacks", "bonus", "bonus_vs", "range", "min_range", "cooldown", "targets", "splash",
                "splash_friendly", "splash_centre", "suicide"}  # fmt: skip
_HEALER_KEYS = {"rate", "energy_per_hp", "range"}
_ENERGY_KEYS = {"start", "max", "regen"}
_RACE_KEYS = {"hp_regen", "shield_regen", "shield_regen_delay"}


class UnitDataError(ValueError):
    """The unit data file is malformed; the message names the file, the unit and the field."""


@dataclass(frozen=True, eq=False)
class UnitTable:
    """Per-type stats as arrays of length ``len(names)`` (float64 unless noted), in SC2 units and per loop.

    Weapon arrays are 0 for unarmed types; ``splash_radius``/``splash_fraction`` are ``[T, 3]`` zones sorted
    innermost first (radius 0 = unused zone). ``attributes`` and ``bonus_mask`` are bitmasks over
    ``attribute_names``.
    """

    names: tuple[str, ...]
    index: dict[str, int]
    attribute_names: tuple[str, ...]
    sc2_id: np.ndarray  # int32
    race: np.ndarray  # int8, index into RACES
    hp: np.ndarray
    shields: np.ndarray
    armor: np.ndarray
    speed: np.ndarray  # map units per game second
    radius: np.ndarray
    sight: np.ndarray
    attributes: np.ndarray  # int32 bitmask
    supply: np.ndarray
    is_air: np.ndarray  # bool
    armed: np.ndarray  # bool
    damage: np.ndarray
    attacks: np.ndarray  # int32, hits per volley
    bonus: np.ndarray
    bonus_mask: np.ndarray  # int32 bitmask of the attributes the bonus applies to
    range: np.ndarray
    min_range: np.ndarray
    cooldown: np.ndarray  # game seconds between volleys
    hits_ground: np.ndarray  # bool
    hits_air: np.ndarray  # bool
    splash_radius: np.ndarray  # [T, 3]
    splash_fraction: np.ndarray  # [T, 3]
    splash_friendly: np.ndarray  # bool: splash also hurts the attacker's own side
    splash_at_attacker: np.ndarray  # bool: splash centred on the attacker (baneling), else on the target
    suicide: np.ndarray  # bool: the attacker dies when it attacks
    healer: np.ndarray  # bool
    heal_rate: np.ndarray  # hp per game second
    heal_energy_per_hp: np.ndarray
    heal_range: np.ndarray
    energy_start: np.ndarray
    energy_max: np.ndarray
    energy_regen: np.ndarray  # per game second
    hp_regen: np.ndarray  # per game second
    shield_regen: np.ndarray  # per game second
    shield_regen_delay: np.ndarray  # game seconds without damage before shields regenerate
    cooldown_jitter: float = 0.0  # game seconds; each volley's cooldown varies uniformly by +- this

    def __len__(self) -> int:
        return len(self.names)

    def type_index(self, name: str) -> int:
        """The type index of a unit name; a clear error lists the known names."""
        if name not in self.index:
            raise KeyError(f"unknown unit type {name!r}; known: {', '.join(self.names)}")
        return self.index[name]

    @property
    def speed_loop(self) -> np.ndarray:
        return self.speed / LOOPS_PER_SECOND

    @property
    def cooldown_loops(self) -> np.ndarray:
        return self.cooldown * LOOPS_PER_SECOND

    @property
    def cooldown_jitter_loops(self) -> float:
        return self.cooldown_jitter * LOOPS_PER_SECOND

    @property
    def heal_loop(self) -> np.ndarray:
        return self.heal_rate / LOOPS_PER_SECOND

    @property
    def energy_regen_loop(self) -> np.ndarray:
        return self.energy_regen / LOOPS_PER_SECOND

    @property
    def hp_regen_loop(self) -> np.ndarray:
        return self.hp_regen / LOOPS_PER_SECOND

    @property
    def shield_regen_loop(self) -> np.ndarray:
        return self.shield_regen / LOOPS_PER_SECOND

    @property
    def shield_delay_loops(self) -> np.ndarray:
        """int64: whole loops since the last damage before shields regenerate (ceil, 160 for 7.142857 s)."""
        return np.ceil(self.shield_regen_delay * LOOPS_PER_SECOND - 1e-6).astype(np.int64)

    @property
    def acquire_range(self) -> np.ndarray:
        """Edge distance within which attack-moving units pick targets: their sight, or weapon range if longer."""
        return np.maximum(self.sight, self.range)

    @property
    def biological(self) -> np.ndarray:
        return (self.attributes & self.attribute_bit("biological")) != 0

    def attribute_bit(self, name: str) -> int:
        if name not in self.attribute_names:
            raise KeyError(f"unknown attribute {name!r}; known: {', '.join(self.attribute_names)}")
        return 1 << self.attribute_names.index(name)

    @classmethod
    def load(cls, path: str | Path = UNITS_FILE, *extra: str | Path, add: dict[str, dict] | None = None) -> UnitTable:
        """Read and validate a unit YAML file (format: see data/units.yaml).

        Each ``extra`` file (e.g. data/economy.yaml) appends its ``attributes`` and ``units`` to the first file's,
        in order, so a full game's table extends the combat table without renumbering it; ``add`` appends unit
        specs made in code last (the upgraded forms of economy/rules.py).
        """
        files = [Path(path), *map(Path, extra)]
        data = _read(files[0])
        for more_path in files[1:]:
            more = _read(more_path)
            for name, part in ((files[0], data), (more_path, more)):
                if not isinstance(part, dict) or not isinstance(part.get("units"), dict):
                    raise UnitDataError(f"{name}: expected a mapping with a 'units' mapping")
            clash = sorted(set(more["units"]) & set(data["units"]))
            if clash:
                raise UnitDataError(f"{more_path}: unit(s) {clash} are already defined before it")
            data = {**data, "attributes": [*data.get("attributes", ()), *more.get("attributes", ())],
                    "units": {**data["units"], **more["units"]}}  # fmt: skip
        if add:
            clash = sorted(set(add) & set(data["units"]))
            if clash:
                raise UnitDataError(f"added unit(s) {clash} are already defined in {', '.join(map(str, files))}")
            data = {**data, "units": {**data["units"], **add}}
        try:
            return _build(data)
        except UnitDataError as error:
            raise UnitDataError(f"{' + '.join(map(str, files))}: {error}") from None


@lru_cache(maxsize=1)
def default_units() -> UnitTable:
    """The shipped unit table (cached; the arrays are shared, treat them as read-only)."""
    return UnitTable.load(UNITS_FILE)


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise UnitDataError(f"{path}: cannot read unit data ({' '.join(str(error).split())})") from None


def _build(data: Any) -> UnitTable:
    if not isinstance(data, dict) or not isinstance(data.get("units"), dict) or not data["units"]:
        raise UnitDataError("expected a mapping with a non-empty 'units' mapping")
    if data.get("loops_per_second", LOOPS_PER_SECOND) != LOOPS_PER_SECOND:
        raise UnitDataError(f"loops_per_second must be {LOOPS_PER_SECOND}, got {data['loops_per_second']!r}")
    attribute_names = tuple(data.get("attributes", ()))
    if len(set(attribute_names)) != len(attribute_names):
        raise UnitDataError(f"attributes must be distinct names, got {list(attribute_names)}")
    races = data.get("races", {})
    if not isinstance(races, dict) or set(races) - set(RACES):
        raise UnitDataError(f"races must map some of {RACES} to regeneration stats, got {races!r}")
    jitter = _number(data, "cooldown_jitter", "cooldown_jitter", default=0)
    rows = [_unit_row(str(name), spec, attribute_names, races) for name, spec in data["units"].items()]
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    ints = {"sc2_id", "attributes", "attacks", "bonus_mask"}
    bools = {"is_air", "armed", "hits_ground", "hits_air", "splash_friendly", "splash_at_attacker", "suicide", "healer"}
    arrays: dict[str, np.ndarray] = {}
    for key, values in columns.items():
        dtype = np.int32 if key in ints else bool if key in bools else np.float64
        arrays[key] = np.array(values, dtype=dtype)
    arrays["race"] = arrays["race"].astype(np.int8)
    names = tuple(str(name) for name in data["units"])
    return UnitTable(
        names=names,
        index={n: i for i, n in enumerate(names)},
        attribute_names=attribute_names,
        cooldown_jitter=jitter,
        **arrays,
    )


def _number(spec: dict, key: str, where: str, default: float | None = None, minimum: float = 0.0) -> float:
    value = spec.get(key, default)
    if value is None:
        raise UnitDataError(f"{where}: missing required field {key!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum:
        raise UnitDataError(f"{where}: {key} must be a number >= {minimum}, got {value!r}")
    return float(value)


def _mapping(spec: dict, key: str, allowed: set[str], where: str) -> dict:
    value = spec.get(key) or {}
    if not isinstance(value, dict):
        raise UnitDataError(f"{where}: {key} must be a mapping, got {value!r}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise UnitDataError(f"{where}: unknown {key} field(s) {unknown}; allowed: {sorted(allowed)}")
    return value


def _attribute_mask(names: Any, attribute_names: tuple[str, ...], where: str) -> int:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or any(n not in attribute_names for n in names):
        raise UnitDataError(f"{where}: attributes must be a list of {list(attribute_names)}, got {names!r}")
    return sum(1 << attribute_names.index(n) for n in set(names))


def _unit_row(name: str, spec: Any, attribute_names: tuple[str, ...], races: dict) -> dict[str, Any]:
    where = f"unit {name!r}"
    if not isinstance(spec, dict):
        raise UnitDataError(f"{where}: expected a mapping of stats, got {spec!r:.60}")
    unknown = sorted(set(spec) - _UNIT_KEYS)
    if unknown:
        raise UnitDataError(f"{where}: unknown field(s) {unknown}; allowed: {sorted(_UNIT_KEYS)}")
    for key in _REQUIRED:
        if key not in spec:
            raise UnitDataError(f"{where}: missing required field {key!r}")
    if spec["race"] not in RACES:
        raise UnitDataError(f"{where}: race must be one of {RACES}, got {spec['race']!r}")
    race = _mapping(races, spec["race"], _RACE_KEYS, "races")
    weapon = _mapping(spec, "weapon", _WEAPON_KEYS, where)
    healer = _mapping(spec, "healer", _HEALER_KEYS, where)
    energy = _mapping(spec, "energy", _ENERGY_KEYS, where)
    row: dict[str, Any] = {
        "sc2_id": int(_number(spec, "sc2_id", where, minimum=1)),
        "race": RACES.index(spec["race"]),
        "hp": _number(spec, "hp", where, minimum=1e-9),
        "shields": _number(spec, "shields", where, default=0),
        "armor": _number(spec, "armor", where),
        "speed": _number(spec, "speed", where),
        "radius": _number(spec, "radius", where, minimum=1e-3),
        "sight": _number(spec, "sight", where),
        "attributes": _attribute_mask(spec["attributes"], attribute_names, where),
        "supply": _number(spec, "supply", where),
        "is_air": bool(spec.get("air", False)),
        "hp_regen": _number(spec, "hp_regen", where, default=race.get("hp_regen", 0)),
        "shield_regen": _number(spec, "shield_regen", where, default=race.get("shield_regen", 0)),
        "shield_regen_delay": _number(spec, "shield_regen_delay", where, default=race.get("shield_regen_delay", 0)),
    }
    row.update(_weapon_row(weapon, attribute_names, f"{where} weapon"))
    row["healer"] = bool(healer)
    row["heal_rate"] = _number(healer, "rate", f"{where} healer", default=0)
    row["heal_energy_per_hp"] = _number(healer, "energy_per_hp", f"{where} healer", default=0)
    row["heal_range"] = _number(healer, "range", f"{where} healer", default=0)
    row["energy_start"] = _number(energy, "start", f"{where} energy", default=0)
    row["energy_max"] = _number(energy, "max", f"{where} energy", default=0)
    row["energy_regen"] = _number(energy, "regen", f"{where} energy", default=0)
    if row["energy_start"] > row["energy_max"]:
        raise UnitDataError(f"{where}: energy start {row['energy_start']} exceeds max {row['energy_max']}")
    if row["healer"] and row["energy_max"] <= 0:
        raise UnitDataError(f"{where}: a healer needs energy (start, max, regen)")
    return row


def _weapon_row(weapon: dict, attribute_names: tuple[str, ...], where: str) -> dict[str, Any]:
    armed = bool(weapon)
    targets = weapon.get("targets", [])
    if armed and (not isinstance(targets, list) or not targets or set(targets) - {"ground", "air"}):
        raise UnitDataError(f"{where}: targets must be a non-empty list of 'ground'/'air', got {targets!r}")
    zones = weapon.get("splash", [])
    if (
        not isinstance(zones, list)
        or len(zones) > MAX_SPLASH_ZONES
        or any(
            not isinstance(z, list) or len(z) != 2 or not all(isinstance(v, int | float) and v > 0 for v in z)
            for z in zones
        )
    ):
        raise UnitDataError(f"{where}: splash must be up to {MAX_SPLASH_ZONES} [radius, fraction] pairs, got {zones!r}")
    zones = sorted((float(r), float(f)) for r, f in zones)
    radii = [r for r, _ in zones] + [0.0] * (MAX_SPLASH_ZONES - len(zones))
    fractions = [f for _, f in zones] + [0.0] * (MAX_SPLASH_ZONES - len(zones))
    centre = weapon.get("splash_centre", "target")
    if centre not in ("target", "attacker"):
        raise UnitDataError(f"{where}: splash_centre must be 'target' or 'attacker', got {centre!r}")
    bonus_vs = weapon.get("bonus_vs", [])
    return {
        "armed": armed,
        "damage": _number(weapon, "damage", where, default=None if armed else 0),
        "attacks": int(_number(weapon, "attacks", where, default=1, minimum=1)),
        "bonus": _number(weapon, "bonus", where, default=0),
        "bonus_mask": _attribute_mask(bonus_vs, attribute_names, where) if bonus_vs else 0,
        "range": _number(weapon, "range", where, default=None if armed else 0),
        "min_range": _number(weapon, "min_range", where, default=0),
        "cooldown": _number(weapon, "cooldown", where, default=None if armed else 0, minimum=1e-3 if armed else 0),
        "hits_ground": "ground" in targets,
        "hits_air": "air" in targets,
        "splash_radius": radii,
        "splash_fraction": fractions,
        "splash_friendly": bool(weapon.get("splash_friendly", False)),
        "splash_at_attacker": centre == "attacker",
        "suicide": bool(weapon.get("suicide", False)),
    }
