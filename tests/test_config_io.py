"""Typed run configs: YAML presets, key=value overrides, clear errors for unknown keys and bad values."""

import argparse
import re
from dataclasses import dataclass, field

import pytest

from training.config_io import (
    CheckedConfig,
    ConfigError,
    describe_keys,
    described,
    flag_type,
    load_config,
    parse_overrides,
    save_config,
)


@dataclass
class Inner:
    rate: float = 0.1
    sizes: tuple[int, ...] = (1, 2)


@dataclass
class Outer:
    name: str = "run"
    steps: int = 10
    fast: bool = False
    levels: list[str] = field(default_factory=lambda: ["easy"])
    weights: dict[str, float] = field(default_factory=lambda: {"a": 1.0})
    address: str | None = None
    inner: Inner = field(default_factory=Inner)


def test_defaults_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("steps: 20\ninner:\n  rate: 0.5\nlevels: [hard, medium]\n")
    cfg = load_config(Outer, path, ["inner.sizes=[4, 8]", "fast=true", "address=host:6379", "steps=30",
                                    "inner.rate=1e-3"])  # fmt: skip
    assert cfg.steps == 30 and cfg.fast is True and cfg.address == "host:6379"
    assert cfg.inner == Inner(rate=1e-3, sizes=(4, 8))
    assert cfg.levels == ["hard", "medium"] and cfg.name == "run"


def test_unknown_key_lists_valid_keys(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'stepz'; valid keys are: name, steps, fast"):
        load_config(Outer, None, ["stepz=3"])
    with pytest.raises(ConfigError, match=r"\.inner: unknown key 'rat'; valid keys are: rate, sizes"):
        load_config(Outer, None, ["inner.rat=3"])


def test_bad_values_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match=r"Outer\.steps: expected an integer, got 'many'"):
        load_config(Outer, None, ["steps=many"])
    with pytest.raises(ConfigError, match=r"fast: expected true or false"):
        load_config(Outer, None, ["fast=3"])
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_overrides(["steps"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: [1,\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_saved_config_loads_back_equal(tmp_path):
    cfg = load_config(Outer, None, ["inner.rate=0.25", "weights={a: 2, b: 0.5}"])
    path = save_config(cfg, tmp_path / "config.yaml")
    assert load_config(Outer, path) == cfg


@dataclass
class Circle:
    kind: str = "circle"
    radius: float = 1.0


@dataclass
class Square:
    kind: str = "square"
    side: float = 2.0
    rounded: bool = False


@dataclass
class Drawing:
    shape: Circle | Square = field(default_factory=Circle)
    backup: Circle | Square | None = None


def test_tagged_union_picks_the_member_by_kind():
    assert load_config(Drawing, None, ["shape.radius=3"]).shape == Circle(radius=3.0)
    assert load_config(Drawing, None, ["shape.side=5", "shape.kind=square"]).shape == Square(side=5.0)
    assert load_config(Drawing, None, ["backup.kind=square"]).backup == Square()
    with pytest.raises(ConfigError, match=r"Drawing\.shape\.kind: expected one of circle, square, got 'star'"):
        load_config(Drawing, None, ["shape.kind=star"])
    with pytest.raises(ConfigError, match=r"Drawing\.shape: unknown key 'side'; valid keys are: kind, radius"):
        load_config(Drawing, None, ["shape.side=5"])
    rows = {key: (default, text) for key, default, text in describe_keys(Drawing)}
    assert rows["shape.radius"] == ("1.0", "") and rows["shape.side"] == ("2.0", "square only")
    assert rows["backup.kind"] == ("'circle'", "") and "backup.rounded" in rows


@dataclass
class Sized:
    """Defaults from a preset: ``big`` doubles ``width`` unless it is given."""

    preset: str = "small"
    width: int = 4
    depth: int = 1

    def config_base(self, data, where):
        if data.get("preset", self.preset) == self.preset:
            return self
        return Sized("big", width=8, depth=2)


@dataclass
class Holder:
    sized: Sized = field(default_factory=Sized)


def test_a_preset_gives_the_defaults_whatever_the_key_order():
    for overrides in (["sized.preset=big", "sized.width=5"], ["sized.width=5", "sized.preset=big"]):
        assert load_config(Holder, None, overrides).sized == Sized("big", width=5, depth=2)
    assert load_config(Holder, None, ["sized.width=5"]).sized == Sized("small", width=5, depth=1)


@dataclass
class Limits(CheckedConfig):
    count: int = described("how many", at_least=1, default=1)
    share: float = described("a fraction", above=0, at_most=1, default=0.5)
    mode: str = described("which", choices=("a", "b"), default="a")
    scales: tuple[float, ...] = described("per channel", above=0, default=(1.0, 2.0))
    timeout: float | None = described("seconds (null: none)", above=0, default=None)


@dataclass
class HoldsLimits(CheckedConfig):
    limits: Limits = field(default_factory=Limits)


def test_declared_bounds_are_checked_from_keys_and_directly():
    cfg = load_config(HoldsLimits, None, ["limits.share=1", "limits.timeout=2"])
    assert cfg.limits == Limits(share=1.0, timeout=2.0)
    cases = {
        "limits.count=0": r"HoldsLimits\.limits\.count: expected an integer >= 1, got 0$",
        "limits.share=0": r"HoldsLimits\.limits\.share: expected a number in \(0, 1\], got 0\.0$",
        "limits.mode=c": r"HoldsLimits\.limits\.mode: expected one of a, b, got 'c'$",
        "limits.scales=[1, 0]": r"HoldsLimits\.limits\.scales\[1\]: expected a number > 0, got 0\.0$",
        "limits.timeout=-1": r"HoldsLimits\.limits\.timeout: expected a number > 0, got -1\.0$",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=message):
            load_config(HoldsLimits, None, [override])
    with pytest.raises(ConfigError, match=r"^count: expected an integer >= 1, got -3$"):
        Limits(count=-3)
    rows = {key: text for key, _, text in describe_keys(HoldsLimits)}
    assert rows["limits.share"] == "a fraction; in (0, 1]" and rows["limits.mode"] == "which; one of a, b"


def test_no_setting_takes_inf_or_nan(tmp_path):
    # `learning_rate=inf` passed "> 0" and was then reported as a diverged run
    for override in ("limits.share=.inf", "limits.timeout=inf", "limits.scales=[1, .nan]", "limits.share=nan"):
        with pytest.raises(ConfigError, match=r"expected a finite number, got"):
            load_config(HoldsLimits, None, [override])
    (tmp_path / "c.yaml").write_text("limits:\n  timeout: .inf\n")
    with pytest.raises(ConfigError, match=r"limits\.timeout: expected a finite number, got inf"):
        load_config(HoldsLimits, tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match=r"^timeout: expected a finite number > 0, got inf$"):
        Limits(timeout=float("inf"))


def test_a_fixed_length_tuple_takes_exactly_its_length():
    # `pstar task image data.std=[1,1]` failed deep in numpy broadcasting
    from training.tasks.image import ImageTaskConfig

    with pytest.raises(ConfigError, match=r"data\.std: expected a list of 3 values, got 2: \[1, 1\]"):
        load_config(ImageTaskConfig, None, ["data.std=[1, 1]"])
    assert load_config(ImageTaskConfig, None, ["data.std=[1, 2, 3]"]).data.std == (1.0, 2.0, 3.0)
    assert load_config(HoldsLimits, None, ["limits.scales=[1, 2, 3]"]).limits.scales == (1.0, 2.0, 3.0)


def test_a_flag_is_checked_with_the_same_bounds_and_words():
    fps = flag_type(float, above=0)
    assert fps("2.5") == 2.5
    for text, message in (("0", "expected a number > 0, got 0.0"), ("fast", "expected a number, got 'fast'")):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            fps(text)
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape("expected an integer >= 1, got 0")):
        flag_type(int, at_least=1)("0")
