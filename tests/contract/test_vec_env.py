"""EchelonVecEnv contract: determinism under a seed and batched == N single-match envs."""

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions

CFG = EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=10.0, red="policy")
HCFG = EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=10.0)  # heuristic red


def rollout(env, seed, steps, actions):
    obs = [env.reset(seed).copy()]
    rew, outs, term, trunc, starts = [], [], [], [], []
    for t in range(steps):
        o, r, te, tr, info = env.step(actions[t])
        obs.append(o.copy())
        rew.append(r.copy())
        term.append(te.copy())
        trunc.append(tr.copy())
        starts.append(info["episode_start"].copy())
        outs += [(ep["env"], ep["length"], ep["outcome"]["reason"], ep["outcome"]["winner"], ep["return"])
                 for ep in info["episodes"]]
    return np.array(obs), np.array(rew), np.array(term), np.array(trunc), np.array(starts), outs


def make_actions(rows, steps, seed=5):
    rng = np.random.default_rng(seed)
    return [random_actions(rng, rows) for _ in range(steps)]


def test_same_seed_same_actions_bit_identical():
    n, steps = 3, 90  # 10 s episodes: several auto-resets
    acts = make_actions(n * 10, steps)
    a = rollout(EchelonVecEnv(CFG, n), 11, steps, acts)
    b = rollout(EchelonVecEnv(CFG, n), 11, steps, acts)
    for x, y in zip(a[:5], b[:5], strict=False):
        np.testing.assert_array_equal(x, y)
    assert a[5] == b[5] and len(a[5]) >= n
    c = rollout(EchelonVecEnv(CFG, n), 12, steps, acts)
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("cfg", [CFG, HCFG], ids=["selfplay", "vs_heuristic"])
def test_batched_equals_single_envs(cfg):
    n, steps = 3, 90
    A = cfg.num_mechs if cfg.red == "policy" else cfg.mechs_per_team
    acts = make_actions(n * A, steps)
    batched = rollout(EchelonVecEnv(cfg, n), 7, steps, acts)
    for i in range(n):
        # Slot i of the batch is seeded from (seed, i): the single env plays match id i.
        single_env = EchelonVecEnv(cfg, 1, match_ids=[i])
        sl = slice(A * i, A * (i + 1))
        sacts = [{k: v[sl] for k, v in a.items()} for a in acts]
        single = rollout(single_env, 7, steps, sacts)
        for x, y in zip(batched[:5], single[:5], strict=False):
            np.testing.assert_array_equal(x[:, sl] if x.ndim > 1 else x, y)
        assert [o[1:] for o in batched[5] if o[0] == i] == [o[1:] for o in single[5]]
