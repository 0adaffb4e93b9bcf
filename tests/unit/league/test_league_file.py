"""The league file (round trip, clear errors), rating periods, promotion and retirement."""

import json

import pytest

from echelon.config import load_config
from echelon.league.glicko2 import ANCHOR_RD, Rating, rate_period
from echelon.league.league import League, LeagueError
from echelon.league.signature import env_signature

SIG = {"env.size_x": 40, "obs_shape": [372], "action_space": "Dict(...)"}


def make(tmp_path, probs=(1.0,)):
    return League.create(tmp_path / "league.json", SIG, probs, settings={"top_k": 3})


def add_rated(league, entry_id, kind, rating, rd, games, created):
    entry = league.add_candidate(entry_id, league.path.parent / f"{entry_id}.pt", created=created)
    entry.kind, entry.rating, entry.rd, entry.games = kind, rating, rd, games
    return entry


def test_round_trip_keeps_everything(tmp_path):
    league = make(tmp_path, (0.5, 1.0))
    (tmp_path / "snaps").mkdir()
    league.add_candidate("r0:10", tmp_path / "snaps" / "a.pt", name="first", meta={"update": 10}, created=5.0)
    league.add_candidate("far", "/elsewhere/b.pt", created=6.0)
    league.record_period([("r0:10", "heuristic@1.0", 1.0), ("far", "heuristic@0.5", 0.5)])
    league.save()
    back = League.load(league.path)
    assert back.to_dict() == league.to_dict()
    assert list(back.entries) == ["heuristic@0.5", "heuristic@1.0", "r0:10", "far"]
    assert back.entries["heuristic@0.5"].kind == "fixed" and back.entries["heuristic@0.5"].meta == {"fire_prob": 0.5}
    # Under the league's folder the path is stored relative (league and snapshots move together).
    assert back.entries["r0:10"].checkpoint == "snaps/a.pt" and back.entries["far"].checkpoint == "/elsewhere/b.pt"
    assert back.checkpoint_path(back.entries["r0:10"]) == (tmp_path / "snaps" / "a.pt").resolve()
    assert back.find_by_checkpoint(tmp_path / "snaps" / ".." / "snaps" / "a.pt").id == "r0:10"
    assert back.periods == 1 and back.settings == {"top_k": 3} and back.env_signature == SIG
    raw = json.loads(league.path.read_text())
    assert raw["schema_version"] == 1 and raw["format"] == "echelon-league"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp_")]  # the temp file was renamed


def test_create_and_add_refuse_duplicates(tmp_path):
    league = make(tmp_path)
    with pytest.raises(LeagueError, match="already exists"):
        make(tmp_path)
    league.add_candidate("x", tmp_path / "x.pt")
    with pytest.raises(LeagueError, match="already has an entry 'x'"):
        league.add_candidate("x", tmp_path / "y.pt")
    assert League.create(league.path, SIG, (), overwrite=True).entries == {}


@pytest.mark.parametrize("text, fragment", [
    ('{"format": "echelon-league", "schema_version": 1, "entr', "is corrupt (not valid JSON"),
    ("[1, 2]", "is not an Echelon league file"),
    ('{"format": "echelon-league", "schema_version": 1}', "is corrupt (missing or malformed"),
])
def test_corrupt_files_are_named(tmp_path, text, fragment):
    path = tmp_path / "league.json"
    path.write_text(text)
    with pytest.raises(LeagueError) as err:
        League.load(path)
    assert fragment in str(err.value) and str(path) in str(err.value)


def test_a_damaged_entry_and_a_wrong_schema_version(tmp_path):
    league = make(tmp_path)
    data = league.to_dict()
    data["entries"][0]["rating"] = "high"
    league.path.write_text(json.dumps(data))
    with pytest.raises(LeagueError, match=r"entry #0 has values of the wrong type \(fields \['rating'\]\)"):
        League.load(league.path)
    data = league.to_dict()
    data["entries"][0]["kind"] = "champion"
    league.path.write_text(json.dumps(data))
    with pytest.raises(LeagueError, match="kind 'champion'"):
        League.load(league.path)
    data = dict(league.to_dict(), schema_version=7)
    league.path.write_text(json.dumps(data))
    with pytest.raises(LeagueError, match="has schema_version 7; this code reads schema_version 1"):
        League.load(league.path)
    with pytest.raises(LeagueError, match="no league file at .*arena.py init"):
        League.load(tmp_path / "missing.json")


def test_an_incompatible_env_signature_names_the_field_and_both_values(tmp_path):
    base = load_config(None, ["env.size_x=40", "env.size_y=40", "env.packs_per_team=1"])
    league = League.create(tmp_path / "league.json", env_signature(base))
    league.check_signature(env_signature(load_config(None, ["env.size_x=40", "env.size_y=40",
                                                            "env.packs_per_team=1", "env.rewards.kill=1.0",
                                                            "env.heuristic_weapon_fire_prob=0.2"])), "run b")
    other = env_signature(load_config(None, ["env.size_x=50", "env.size_y=40", "env.packs_per_team=1",
                                             "env.obs_mode=partial"]))
    with pytest.raises(LeagueError) as err:
        League.load(league.path).check_signature(other, "checkpoint 'b.pt'")
    msg = str(err.value)
    assert "env.obs_mode is 'full' in the league but 'partial' in checkpoint 'b.pt'" in msg
    assert "also differs: env.size_x" in msg and "arena.py init" in msg


def test_record_period_matches_glicko_and_counts_games(tmp_path):
    league = make(tmp_path)
    add_rated(league, "a", "candidate", 1600, 100, 3, 1.0)
    add_rated(league, "b", "candidate", 1500, 200, 0, 2.0)
    add_rated(league, "idle", "commander", 1550, 80, 9, 3.0)
    before = {k: e.glicko for k, e in league.entries.items()}
    results = [("a", "b", 1.0), ("a", "heuristic@1.0", 0.5), ("b", "heuristic@1.0", 0.0)]
    league.record_period(results)
    expect = rate_period(before, results)
    expect["heuristic@1.0"] = before["heuristic@1.0"]  # an anchor: its games count, it never moves
    for key, entry in league.entries.items():
        assert entry.glicko == pytest.approx(expect[key])
    assert [league.entries[k].games for k in ("a", "b", "idle", "heuristic@1.0")] == [5, 2, 9, 2]
    assert league.entries["idle"].rd > 80 and league.entries["idle"].rating == 1550
    snapshot = league.to_dict()
    for bad, fragment in [([("a", "zz", 1.0)], "no entry 'zz'"), ([("a", "a", 1.0)], "cannot play itself"),
                          ([("a", "b", 0.7)], "must be 1, 0.5 or 0")]:
        with pytest.raises(LeagueError, match=fragment):
            league.record_period([("a", "b", 1.0), *bad])
        assert league.to_dict() == snapshot  # a rejected period changes nothing


def test_promotion_takes_rated_candidates_in_the_top_k(tmp_path):
    league = make(tmp_path)
    add_rated(league, "c1", "commander", 1700, 60, 50, 1.0)   # conservative 1580
    add_rated(league, "good", "candidate", 1650, 50, 40, 2.0)  # 1550
    add_rated(league, "lucky", "candidate", 1900, 300, 2, 3.0)  # 1300: high rating, too uncertain
    add_rated(league, "c2", "commander", 1500, 40, 60, 4.0)   # 1420
    add_rated(league, "fresh", "candidate", 1500, 350, 0, 5.0)  # 800, never played
    league.entries["heuristic@1.0"].rating = 2500  # fixed entries are not ranked for promotion
    assert [e.id for e in league.promote(top_k=2)] == ["good"]
    assert [e.id for e in league.promote(top_k=2)] == []
    assert [e.id for e in league.promote(top_k=4)] == ["lucky"]
    assert league.entries["fresh"].kind == "candidate" and league.promote(top_k=10) == []


def test_retirement_keeps_the_top_k_protects_new_commanders_and_deletes_nothing(tmp_path):
    league = make(tmp_path)
    specs = [("best", 1800, 50, 40), ("second", 1750, 50, 40), ("new_weak", 1400, 200, 5),
             ("old_weak", 1450, 50, 100), ("mid", 1600, 60, 30), ("new_strong", 1800, 120, 3)]
    for i, (key, rating, rd, games) in enumerate(specs):
        add_rated(league, key, "commander", rating, rd, games, float(i))
    add_rated(league, "cand", "candidate", 1000, 50, 50, 9.0)
    count = len(league.entries)
    # Conservative: best 1700, second 1650, new_strong 1560, mid 1480, old_weak 1350, new_weak 1000.
    retired = league.retire_commanders(keep_top=2, min_games=10)
    assert [e.id for e in retired] == ["mid", "old_weak"]
    kinds = {k: e.kind for k, e in league.entries.items()}
    assert kinds["best"] == kinds["second"] == "commander"
    assert kinds["new_strong"] == kinds["new_weak"] == "commander"  # under min_games: protected
    assert kinds["mid"] == kinds["old_weak"] == "retired" and kinds["cand"] == "candidate"
    league.save()
    back = League.load(league.path)
    assert len(back.entries) == count and back.entries["mid"].kind == "retired"
    assert back.entries["mid"].rating == 1600 and back.entries["mid"].games == 30  # history kept
    assert back.retire_commanders(keep_top=2, min_games=10) == []  # retired ones are not ranked again
    assert [e.id for e in back.retire_commanders(keep_top=1, min_games=0)] == ["second", "new_strong", "new_weak"]


def test_the_pool_is_commanders_plus_the_newest_candidates(tmp_path):
    league = make(tmp_path)
    for i in range(5):
        add_rated(league, f"cand{i}", "candidate", 1500, 100, 1, float(i))  # cand4 is the newest
    add_rated(league, "boss", "commander", 1700, 50, 50, 0.0)
    add_rated(league, "old", "retired", 1700, 50, 50, 0.0)
    league.entries["cand0"].created = 100.0  # order is by creation time, not by insertion
    assert [e.id for e in league.pool(2)] == ["boss", "cand4", "cand0"]
    assert [e.id for e in league.pool(0)] == ["boss"]
    assert len(league.pool(99)) == 6
    # A fixed entry is an anchor at the start rating with a well-known player's RD.
    assert league.entries["heuristic@1.0"].glicko == Rating(rd=ANCHOR_RD)


def test_fixed_entries_anchor_one_scale_across_periods(tmp_path):
    # Two candidates with the same record against the heuristic, rated in different periods
    # (the first after three periods of a weak candidate losing), come out the same: the
    # heuristic does not drift between them.
    league = make(tmp_path)
    anchor = league.entries["heuristic@1.0"].glicko
    for name in ("weak", "early", "late"):
        add_rated(league, name, "candidate", 1500, 350, 0, 1.0)
    league.record_period([("early", "heuristic@1.0", float(i < 30)) for i in range(100)])
    early = league.entries["early"].glicko  # before its RD grows in the idle periods below
    for _ in range(3):
        league.record_period([("weak", "heuristic@1.0", float(i < 5)) for i in range(100)])
    league.record_period([("late", "heuristic@1.0", float(i < 30)) for i in range(100)])
    assert league.entries["heuristic@1.0"].glicko == anchor and league.entries["heuristic@1.0"].games == 500
    late = league.entries["late"]
    assert early.rating == pytest.approx(late.rating) and early.rd == pytest.approx(late.rd)
    # 30% against a 1500 anchor: about 150 points below it (Elo's 400 log10(0.3/0.7) = -147).
    assert 1300 < early.rating < 1400 and league.entries["weak"].rating < early.rating
