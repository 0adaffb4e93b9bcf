"""Arena training, worker side: per-copy opponent draws, who drives red, which rows learn.

Real env, real collector, real policies; the only wrappers record what the env was given and
returned (they pass everything through unchanged).
"""

import dataclasses

import numpy as np
import pytest
import torch

from echelon.actors.rollout_worker import build_collector
from echelon.config import CurriculumConfig, CurriculumStage, config_to_dict, load_config
from echelon.env.actions import random_actions
from echelon.env.vec_env import EchelonVecEnv
from echelon.league.arena import Arena, LeagueSet, arena_config, match_results
from echelon.league.opponents import OpponentPool, ScriptedRed, policy_payload
from echelon.league.sampling import SELF, OpponentSampler
from echelon.model.actor_critic import LSTMState, build_policy

from league_helpers import SMOKE

# 6 s matches: 24 decisions, so a 32-step fragment crosses a match start in every copy.
ARENA = ["env.episode_seconds=6.0", "league.path=unused.json", "model.hidden_size=16", "model.lstm_size=16",
         "ray.curriculum_fire_prob_start=null",
         "curriculum.stages=[]"]
KINDS = {"heuristic@1.0": "fixed", "heuristic@0.5": "fixed", "a": "candidate", "b": "commander", SELF: SELF}


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    # Small CPU policies: torch's thread pool only contends with the env on a shared machine
    # (one rollout worker runs this way too: rollout_worker.torch_threads(1)).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _cfg(*extra):
    return load_config(SMOKE, [*ARENA, *extra])


def _payload(cfg, env, seed):
    torch.manual_seed(seed)
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    return policy_payload(config_to_dict(cfg), policy.state_dict())


def _league(cfg, env, ids, version=1):
    sampler = OpponentSampler(tuple(ids), tuple([1.0 / len(ids)] * len(ids)), tuple(KINDS[i] for i in ids))
    fire = {i: float(i.split("@")[1]) for i in ids if i.startswith("heuristic@")}
    weights = {i: _payload(cfg, env, seed) for seed, i in enumerate(ids) if i in ("a", "b")}
    return LeagueSet(version, sampler, fire, weights)


def _collector(ids, num_envs=4, seed=3, *extra):
    cfg = _cfg(f"rollout.num_envs={num_envs}", *extra)
    col = build_collector(cfg, num_envs, seed)
    col.opponents.set_league(_league(cfg, col.env, ids))
    return cfg, col


def test_arena_config_makes_red_policy_rows_and_refuses_other_envs():
    cfg = _cfg()
    assert cfg.env.red == "heuristic" and arena_config(cfg).env.red == "policy"
    plain = load_config(SMOKE)
    assert arena_config(plain) is plain  # no league: the config is left alone
    with pytest.raises(ValueError, match="env.blue is 'heuristic'"):
        arena_config(_cfg("env.blue=heuristic", "env.red=policy"))
    with pytest.raises(ValueError, match="set ray.curriculum_fire_prob_start=null"):
        arena_config(_cfg("ray.curriculum_fire_prob_start=0.2"))
    with pytest.raises(ValueError, match=r"curriculum.stages \[0, 1, 2\] set weapon_fire_prob"):
        arena_config(load_config(SMOKE, ARENA[:-1]))  # smoke.yaml's own stages ramp the fire probability
    # Stages over the map size and packs alone apply to every match, whoever the opponent is.
    ranged = dataclasses.replace(cfg, curriculum=CurriculumConfig(stages=[
        CurriculumStage(size_range=[32, 32], packs_range=[1, 1], until_fraction=0.5), CurriculumStage()]))
    assert arena_config(ranged).env.red == "policy"
    fired = dataclasses.replace(cfg, curriculum=CurriculumConfig(stages=[
        CurriculumStage(size_range=[32, 32], until_fraction=0.5), CurriculumStage(weapon_fire_prob=0.5)]))
    with pytest.raises(ValueError, match=r"curriculum.stages \[1\] set weapon_fire_prob.*size_range and packs_range"):
        arena_config(fired)
    with pytest.raises(ValueError, match="neither a fire probability nor weights"):
        LeagueSet(1, OpponentSampler(("a",), (1.0,), ("candidate",)))


@pytest.mark.parametrize("ranges", [[], ["env.packs_per_team=2", "env.packs_range=[1,2]", "env.size_range=[32,40]"]])
def test_scripted_red_plays_exactly_the_builtin_heuristic(ranges):
    # The same matches, once with red = the env's heuristic, once with red as policy rows driven by
    # ScriptedRed: blue sees the same observations and rewards, matches end the same way, across
    # match restarts (the heuristic's keys are reseeded then), at a fire probability below 1, and
    # with matches drawing their map size and pack count.
    cfg = _cfg(*ranges)
    E, p = 3, 0.5
    builtin = EchelonVecEnv(dataclasses.replace(cfg.env, red="heuristic", heuristic_weapon_fire_prob=p), E)
    arena = EchelonVecEnv(dataclasses.replace(cfg.env, red="policy"), E)
    scripted = ScriptedRed(arena)
    obs_b, obs_a = builtin.reset(seed=11), arena.reset(seed=11)
    blue = arena.row_team == 0
    rng = np.random.default_rng(0)
    ended = []
    for _ in range(60):
        acts = random_actions(rng, arena.num_rows)
        scripted.write(np.arange(E), p, acts)
        obs_a, rew_a, _, _, info_a = arena.step(acts)
        obs_b, rew_b, _, _, info_b = builtin.step({k: v[blue] for k, v in acts.items()})
        np.testing.assert_array_equal(obs_a[blue], obs_b)
        np.testing.assert_array_equal(rew_a[blue], rew_b)
        np.testing.assert_array_equal(info_a["valid"][blue], info_b["valid"])
        assert [(e["env"], e["outcome"]["winner"], e["length"]) for e in info_a["episodes"]] == \
            [(e["env"], e["outcome"]["winner"], e["length"]) for e in info_b["episodes"]]
        ended += info_a["episodes"]
    assert len(ended) >= E  # every copy restarted at least once


def test_draws_one_opponent_per_copy_at_each_match_start_from_the_seeded_generator():
    cfg = _cfg("rollout.num_envs=5")
    env = EchelonVecEnv(arena_config(cfg).env, 5)
    env.reset(seed=0)
    ids = ["heuristic@1.0", "a", "b", SELF]
    league = _league(cfg, env, ids)
    arena = Arena(env, seed=7)
    arena.set_league(league)
    expect_rng = np.random.default_rng(np.random.SeedSequence([7, 0xA7E4A]))
    obs = np.zeros((env.num_rows, env.single_observation_space.shape[0]), np.float32)
    A = env.agents_per_env

    def step(starting_copies):
        start = np.zeros(env.num_rows, bool)
        for e in starting_copies:
            start[e * A:(e + 1) * A] = True
        before = list(arena.opponent)
        arena.act(obs, start, random_actions(np.random.default_rng(1), env.num_rows))
        drawn = league.sampler.sample_opponents(expect_rng, len(starting_copies)) if starting_copies else []
        for e in range(5):
            assert arena.opponent[e] == (drawn[starting_copies.index(e)] if e in starting_copies else before[e])

    step([0, 1, 2, 3, 4])
    step([])
    step([2])
    step([0, 4])
    assert arena.draws == 8
    assert len(set(arena.opponent) | {o for p in arena.played for o in p}) >= 2
    # Kinds follow the sampler; a learning mask: blue always, red only under self-play.
    for e in range(5):
        assert arena.kind[e] == KINDS[arena.opponent[e]]
        red = np.arange(e * A, (e + 1) * A)[env.row_team[e * A:(e + 1) * A] == 1]
        assert arena.learning[red].all() == (arena.opponent[e] == SELF)
    assert arena.learning[env.row_team == 0].all()


def test_fragment_valid_masks_opponent_rows_and_nothing_else():
    ids = ["heuristic@0.5", "a", "b", SELF]
    _, col = _collector(ids, num_envs=4, seed=5)
    env, arena = col.env, col.opponents
    seen_valid, seen_opp = [], []
    real_step, real_act = env.step, arena.act

    def recording_step(actions):
        out = real_step(actions)
        seen_valid.append(out[4]["valid"].copy())
        return out

    def recording_act(*args, **kwargs):
        learning = real_act(*args, **kwargs)
        seen_opp.append(list(arena.opponent))
        return learning

    env.step, arena.act = recording_step, recording_act
    frags = [col.sample() for _ in range(3)]
    valid = np.concatenate([f.valid for f in frags])  # [3T, R]
    env_valid = np.stack(seen_valid)
    A = env.agents_per_env
    red = env.row_team == 1
    learning = np.array([[not red[r] or opp[r // A] == SELF for r in range(env.num_rows)] for opp in seen_opp])
    np.testing.assert_array_equal(valid, env_valid & learning)
    opponent_rows = red[None] & ~learning
    assert opponent_rows.any() and not valid[opponent_rows].any()
    assert valid[~red[None].repeat(len(valid), 0)].sum() == env_valid[:, ~red].sum()  # blue untouched
    # Every match that ended carries its opponent and blue's score; the return is blue's.
    eps = [ep for f in frags for ep in f.episodes]
    assert eps and all(ep["opponent"] in ids and ep["score"] in (0.0, 0.5, 1.0) for ep in eps)
    assert all(ep["return"] == ep["team_returns"]["blue"] for ep in eps)
    assert [m[0] for m in match_results(eps)] == [ep["opponent"] for ep in eps]
    # Each checkpoint was loaded once however often it was drawn.
    assert arena.draws > 4 and set(arena.pool.fetches.values()) <= {1}


def test_same_seed_same_opponents_other_seed_other_opponents():
    ids = ["heuristic@1.0", "a", "b", SELF]

    def history(seed):
        _, col = _collector(ids, 4, seed)
        out = []
        for _ in range(2):
            col.sample()
            out.append(col.opponents.report()["played"])
        return out

    first = history(3)
    assert history(3) == first
    assert history(4) != first


@torch.no_grad()
def test_opponent_pool_state_per_row_reset_at_match_start_and_loaded_once():
    cfg = _cfg()
    env = EchelonVecEnv(arena_config(cfg).env, 2)
    obs = env.reset(seed=0)
    payload = _payload(cfg, env, 1)
    pool = OpponentPool(env.single_observation_space, env.single_action_space, env.num_rows)
    pool.load("a", payload)
    pool.load("a", payload)
    assert pool.fetches == {"a": 1}
    rows = np.nonzero(env.row_team == 1)[0]
    acts = random_actions(np.random.default_rng(0), env.num_rows)
    start = np.ones(env.num_rows, bool)
    pool.act("a", rows, obs, start, acts)
    h = pool.states["a"][0]
    assert np.abs(h[rows]).sum() > 0 and np.abs(np.delete(h, rows, axis=0)).sum() == 0  # only its rows
    # A match start zeroes the state first: the same as acting from a fresh zero state.
    policy = pool.policies["a"]
    ref = policy.step(torch.from_numpy(obs[rows]), policy.initial_state(len(rows)),
                      torch.zeros(len(rows), dtype=torch.bool)).state
    pool.act("a", rows, obs, start, acts)
    np.testing.assert_allclose(h[rows], ref.h.numpy(), rtol=1e-6, atol=1e-6)
    # Without a start the state carries on (it is not the fresh one any more).
    before = LSTMState(torch.from_numpy(h[rows].copy()), torch.from_numpy(pool.states["a"][1][rows].copy()))
    pool.act("a", rows, obs, np.zeros(env.num_rows, bool), acts)
    carried = policy.step(torch.from_numpy(obs[rows]), before, torch.zeros(len(rows), dtype=torch.bool)).state
    np.testing.assert_allclose(h[rows], carried.h.numpy(), rtol=1e-6, atol=1e-6)
    pool.keep_only(set())
    assert pool.policies == {}
