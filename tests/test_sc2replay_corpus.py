"""The reader on the shared real-replay corpus (../shared/sc2_corpus): builds s2protocol has no protocol for are read
through sc2reader's decoding or refused as unsupported, never decoded wrongly; metadata agrees with the corpus's
provenance records; commands without an ability are right-clicks in every build."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("pysc2_evolved")
pytest.importorskip("s2protocol")
pytest.importorskip("sc2reader")

import envs.sc2replay.metadata as metadata  # noqa: E402
from envs.sc2replay import ReplayReadError, describe, read_replay  # noqa: E402
from envs.sc2replay.abilities import production_check  # noqa: E402
from envs.sc2replay.protocol import nearest_builds  # noqa: E402

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "sc2_corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the shared replay corpus is not at {CORPUS}")
# s2protocol has no protocol from 32284 to 51701: the LotV 3.0-3.11 replays of the corpus
GAP = range(32284, 51702)


def _records() -> dict[str, dict]:
    return {r["file"]: r for r in json.loads((CORPUS / "PROVENANCE.json").read_text())} if CORPUS.is_dir() else {}


def _in_gap(record: dict) -> bool:
    return int(record["game_version"].rsplit(".", 1)[1]) in GAP


def _check_against_record(replay, record: dict) -> None:
    info = replay.info
    assert info.release == record["game_version"] and info.base_build == record["base_build"]
    assert info.map_name == record["map"]
    assert [(p.name, p.race, p.result, p.team, p.is_human) for p in info.players] == [
        (p["name"], p["race"], p["result"], p["team"], p["control"] == "human") for p in record["players"]
    ]
    assert info.game_speed == "Faster" and all(64 <= v <= 256 for v in info.map_size)


@pytest.fixture(scope="module")
def gap_replays():
    """The corpus's replays of builds s2protocol lacks (3.0-3.11), each read once (about 20 s)."""
    return {name: read_replay(CORPUS / name) for name, record in _records().items() if _in_gap(record)}


def test_replays_of_builds_s2protocol_lacks_read_right(gap_replays):
    """Before: 11 of them failed as "corrupt", 14 read 0 x 0 maps, wrong speeds and 3-28% mapped commands."""
    records = _records()
    assert len(gap_replays) == 25
    for name, replay in gap_replays.items():
        _check_against_record(replay, records[name])
        assert replay.info.build_fallback and replay.info.protocol_build == 32283
        assert replay.info.metadata_decoder == "sc2reader"
        assert any("decoded by sc2reader" in note and "32283" in note for note in replay.info.notes)
        assert "decoded by sc2reader" in describe(replay)
        # a right-click is a command without an ability; 3.x tables name ability id 0 "CAbil"
        assert "CAbil" not in replay.stats["unmapped_abilities"]
        # one table names the whole replay: its own, or the nearest lower one checked by production
        assert len(replay.info.ability_datapacks) == 1
        # (44401's and 47185's own tables lack a few abilities: 80-86% there, 94-100% elsewhere)
        assert replay.stats["mapped_share"] >= 0.75, (name, replay.stats["unmapped_abilities"].most_common(3))


def test_the_production_check_tells_the_right_table_from_a_shifted_one(gap_replays):
    """A 3.1 replay: LotV's base table names its production commands as the units that then appear; the next table
    (44401, whose ids moved past abilities added in 3.4) names them as units that do not."""
    import importlib

    import sc2reader

    from envs.sc2replay.reader import _production_evidence

    path = CORPUS / "sc2reader_3.1.0.39576_TvT_Ulrena_ladder.SC2Replay"
    replay = sc2reader.load_replay(str(path), load_level=4)
    evidence = _production_evidence(replay)
    packs = importlib.import_module("sc2reader.data").datapacks["LotV"]
    named, share = production_check(packs["base"].abilities, evidence)
    assert named >= 100 and share >= 0.95
    named, share = production_check(packs["44401"].abilities, evidence)
    assert share < 0.5, (named, share)
    assert "used whole" in gap_replays[path.name].info.ability_check
    assert "used whole" in describe(gap_replays[path.name])


def test_a_rejected_fallback_names_what_disagreed(gap_replays):
    """Build 32283's protocol decodes this 3.1 replay without an error into a 49 x 236 map at Slow speed."""
    replay = gap_replays["sc2reader_3.1.0.39576_TvT_Ulrena_ladder.SC2Replay"]
    assert replay.info.map_size == (184, 144)
    assert any("map size (49, 236) against (184, 144)" in note for note in replay.info.notes)


def test_right_clicks_map_to_smart(gap_replays):
    """47185's own table calls ability id 0 "CAbil": the 1,700 right-clicks of this game were unmapped before."""
    replay = gap_replays["sc2reader_3.7.0.47185_PvT_KingSejongStationLE_ladder.SC2Replay"]
    assert replay.info.ability_datapacks == ("47185",)
    types = Counter(s.ability for p in replay.samples.values() for s in p)
    assert types["RightClick"] > 0.3 * replay.num_samples  # most commands of a game are right-clicks
    smart = [s for p in replay.samples.values() for s in p if s.ability == "RightClick"]
    assert all(s.action_type is not None for s in smart)


def test_an_undecodable_build_is_refused_as_unsupported(monkeypatch):
    """When neither build 32283's decoding nor sc2reader's can be trusted, the error names the build and the
    nearest protocols s2protocol has, never "corrupt"."""
    monkeypatch.setattr(metadata, "from_sc2reader", lambda replay: None)
    path = CORPUS / "sc2reader_3.1.0.39576_TvZ_LerilakCrest_ladder.SC2Replay"
    with pytest.raises(ReplayReadError) as err:
        read_replay(path)
    problem = err.value.problem
    assert problem.startswith("unsupported build: 39576") and "32283 and 51702" in problem, problem
    assert nearest_builds(39576) == "32283 and 51702"


def test_a_checked_fallback_keeps_s2protocols_decoding():
    """5.0.15.95841 has no protocol of its own; 95299's decodes it as sc2reader does, so it is kept."""
    replay = read_replay(CORPUS / "sc2replayutils_5.0.15.95841_ZvT_10000FeetLE_custom.SC2Replay")
    assert replay.info.build_fallback and replay.info.protocol_build == 95299
    assert replay.info.metadata_decoder == "s2protocol"
    assert any("agrees with sc2reader's decoding" in note for note in replay.info.notes)
    _check_against_record(replay, _records()[Path(replay.info.path).name])


@pytest.mark.slow
def test_every_corpus_file_reads_or_fails_cleanly():
    """65 of the 66 files read with their recorded metadata; the one without replay.details fails cleanly."""
    failed = {}
    for name, record in _records().items():
        try:
            replay = read_replay(CORPUS / name)
        except ReplayReadError as error:
            failed[name] = error.problem
            continue
        if record["game_type"] in ("1v1 ladder", "1v1 custom lobby", "1v1 vs AI"):
            _check_against_record(replay, record)
    assert failed == {
        "sc2reader_4.1.2.60604_TvP_AbyssalReefLE_ladder.SC2Replay": "corrupt: the archive has no replay.details"
    }
