"""scripts/arena.py and eval_policy.py --opponent league:<id> through subprocesses, on tiny checkpoints."""

import json
import os
import re
import subprocess
import sys

import pytest
from league_helpers import REPO, SMOKE, make_checkpoint

from echelon.league.cli import main as arena_main
from echelon.league.glicko2 import rate_period
from echelon.league.league import League, LeagueError
from echelon.league.matches import LeagueEval, plan_eval

ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
INIT = ["--config", str(SMOKE), "--set", "env.episode_seconds=6.0"]  # the tiny checkpoints' env


def run(script, *args):
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / script), *map(str, args)], capture_output=True,
                          text=True, timeout=300, env=ENV, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def test_init_add_promote_retire_list(tmp_path, capsys):
    league = tmp_path / "league.json"
    a = make_checkpoint(tmp_path / "a", seed=0, update=10)
    b = make_checkpoint(tmp_path / "b", seed=1, update=20)
    wrong = make_checkpoint(tmp_path / "c", seed=2, extra=["env.size_x=50"])
    rc, out, err = run("arena.py", "init", league, *INIT, "--set", "league.fixed_fire_probs=[0.5,1.0]",
                       "--set", "league.min_games=7")
    assert rc == 0, err
    assert "heuristic@0.5, heuristic@1.0" in out
    rc, out, err = run("arena.py", "add", league, a)
    assert rc == 0 and "added r0:10 as a candidate" in out, err
    rc, out, err = run("arena.py", "add", league, b, "--id", "bee", "--name", "second run")
    assert rc == 0, err
    rc, out, err = run("arena.py", "add", league, wrong)
    assert rc == 2 and out == "" and "Traceback" not in err
    assert "env.size_x is 40 in the league but 50 in checkpoint" in err and "arena.py init" in err
    assert arena_main(["add", str(league), str(a)]) == 2  # in-process from here on where the output is all
    assert "is already in the league as 'r0:10'" in capsys.readouterr().err

    lg = League.load(league)
    assert lg.settings["min_games"] == 7 and lg.settings["fixed_fire_probs"] == [0.5, 1.0]
    assert lg.entries["r0:10"].meta == {"run_id": "r0", "update": 10, "env_steps": 1000}
    assert lg.entries["bee"].checkpoint == "b/checkpoints/ckpt_00000020.pt" and lg.entries["bee"].name == "second run"
    # Ratings as if both had played: r0:10 conservative 1500, bee 1360 with 3 games (< min_games 7).
    for key, rating, games in (("r0:10", 1600.0, 12), ("bee", 1460.0, 3)):
        entry = lg.entries[key]
        entry.rating, entry.rd, entry.games = rating, 50.0, games
    lg.save()
    rc, out, err = run("arena.py", "promote", league, "--top-k", "2")
    assert rc == 0 and "promoted to commander: r0:10, bee (top 2)" in out, err
    rc, out, err = run("arena.py", "retire", league, "--keep-top", "0")  # min_games from the league: 7
    assert rc == 0 and "retired: r0:10 (keep top 0, min games 7)" in out, err
    rc, out, err = run("arena.py", "list", league)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0] == f"league {league}: 4 entries, 0 rating periods"
    assert lines[1].split()[:6] == ["id", "kind", "rating", "rd", "conservative", "games"]
    # The heuristic entries are anchors at 1500 with RD 30 (conservative 1440).
    assert [line.split()[:6] for line in lines[2:6]] == [["r0:10", "retired", "1600.0", "50.0", "1500.0", "12"],
                                                         ["heuristic@0.5", "fixed", "1500.0", "30.0", "1440.0", "0"],
                                                         ["heuristic@1.0", "fixed", "1500.0", "30.0", "1440.0", "0"],
                                                         ["bee", "commander", "1460.0", "50.0", "1360.0", "3"]]
    capsys.readouterr()
    assert arena_main(["list", str(league), "--json"]) == 0
    kinds = {e["id"]: e["kind"] for e in json.loads(capsys.readouterr().out)}
    assert kinds == {"r0:10": "retired", "bee": "commander", "heuristic@0.5": "fixed", "heuristic@1.0": "fixed"}
    league.write_text("{not json")
    assert arena_main(["list", str(league)]) == 2
    assert "is corrupt (not valid JSON" in capsys.readouterr().err


def test_eval_records_a_rating_period_and_eval_policy_plays_league_entries(tmp_path, capsys):
    league = tmp_path / "league.json"
    a = make_checkpoint(tmp_path / "a", seed=0, update=10)
    b = make_checkpoint(tmp_path / "b", seed=1, update=20)
    assert arena_main(["init", str(league), *INIT]) == 0
    assert arena_main(["add", str(league), str(a)]) == 0 and arena_main(["add", str(league), str(b)]) == 0
    start = {k: e.glicko for k, e in League.load(league).entries.items()}
    capsys.readouterr()

    rc, out, err = run("arena.py", "eval", league, "--matches", "2", "--seed", "3")
    assert rc == 0, err
    played = re.findall(r"^(\S+) vs (\S+): (\d+) W / (\d+) D / (\d+) L", out, re.M)
    assert {(x, y) for x, y, *_ in played} == {("r0:10", "heuristic@1.0"), ("r1:20", "heuristic@1.0"),
                                             ("r0:10", "r1:20")}
    results = [(x, y, s) for x, y, *wdl in played for s, n in zip((1.0, 0.5, 0.0), map(int, wdl), strict=True)
               for _ in range(n)]
    assert len(results) == 6
    lg = League.load(league)
    assert lg.periods == 1 and all(e.games == 4 for e in lg.entries.values())
    expect = rate_period(start, results)
    expect["heuristic@1.0"] = start["heuristic@1.0"]  # the anchor does not move
    for key, entry in lg.entries.items():
        assert abs(entry.rating - expect[key].rating) < 1e-9 and abs(entry.rd - expect[key].rd) < 1e-9

    rc, out, err = run("eval_policy.py", "--checkpoint", a, "--opponent", "league:heuristic@1.0",
                       "--record-league", league, "--matches", "2", "--json")
    assert rc == 0, err
    summary = json.loads(out)
    assert summary["opponent"] == "heuristic" and summary["fire_prob"] == 1.0 and summary["matches"] == 2
    lg2 = League.load(league)
    assert lg2.periods == 2 and lg2.entries["r0:10"].games == lg2.entries["heuristic@1.0"].games == 6
    assert lg2.entries["r1:20"].games == 4 and lg2.entries["r1:20"].rd > lg.entries["r1:20"].rd  # idle: RD grew
    assert summary["league"]["r0:10"]["games"] == 6
    rc, out, err = run("eval_policy.py", "--checkpoint", a, "--opponent", "league:r1:20", "--league", league,
                       "--matches", "2", "--size", "48")
    assert rc == 0 and "2 matches vs " + str(b) in out, err
    assert League.load(league).periods == 2  # nothing recorded without --record-league


def test_plan_eval_maps_both_sides_to_entries(tmp_path):
    league = tmp_path / "league.json"
    a = make_checkpoint(tmp_path / "a", seed=0, update=10)
    b = make_checkpoint(tmp_path / "b", seed=1, update=20)
    outsider = make_checkpoint(tmp_path / "c", seed=2)
    assert arena_main(["init", str(league), *INIT, "--set", "league.fixed_fire_probs=[0.5,1.0]"]) == 0
    assert arena_main(["add", str(league), str(a)]) == 0 and arena_main(["add", str(league), str(b)]) == 0
    # A plain heuristic opponent is the entry at the checkpoint's own training fire probability (1.0 here).
    assert plan_eval(str(a), "heuristic", None, None, league, {}) == \
        LeagueEval("heuristic", 1.0, league, "r0:10", "heuristic@1.0")
    assert plan_eval(str(a), "heuristic", 0.5, None, league, {}).b_id == "heuristic@0.5"
    assert plan_eval(str(a), str(b), None, None, league, {"size": None}).b_id == "r1:20"
    assert plan_eval(str(b), "league:r0:10", None, None, league, {}) == \
        LeagueEval(str(a.resolve()), None, league, "r1:20", "r0:10")
    assert plan_eval(str(a), "league:heuristic@0.5", None, league, None, {}) == LeagueEval("heuristic", 0.5)
    for args, fragment in [((str(a), "heuristic", 0.5, None, league, {"size": 48}), "drop ['size']"),
                           ((str(outsider), "heuristic", None, None, league, {}), "add it first"),
                           ((str(a), "heuristic", 0.25, None, league, {}), "no entry 'heuristic@0.25'"),
                           ((str(a), "league:r0:10", None, None, league, {}), "would play itself"),
                           ((str(a), "league:heuristic@0.5", 1.0, league, None, {}), "drop --fire-prob 1.0"),
                           ((str(a), "league:r1:20", None, None, None, {}), "needs the league file")]:
        with pytest.raises(LeagueError) as err:
            plan_eval(*args)
        assert fragment in str(err.value)
