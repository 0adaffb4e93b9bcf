"""Golden digest: a fixed seed and action sequence give the same bytes after any refactor.

The digests were recorded from the simulator before it was split into phase modules; a change
to the game's numbers (not just its structure) must update them deliberately, with the reason
in the commit.
"""

import hashlib
import json

import numpy as np
import pytest

from echelon.config import EnvConfig
from echelon.env import EchelonVecEnv, random_actions


def _digest(cfg: EnvConfig, num_envs: int, seed: int, steps: int) -> tuple[str, int]:
    """SHA-256 over obs, rewards, flags, reward parts, events and every ended match's outcome."""
    env = EchelonVecEnv(cfg, num_envs)
    rng = np.random.default_rng(seed + 1)
    h = hashlib.sha256()
    h.update(env.reset(seed).tobytes())
    ended = 0
    for _ in range(steps):
        obs, rew, term, trunc, info = env.step(random_actions(rng, env.num_rows))
        for arr in (obs, rew, term, trunc, info["valid"], info["alive"], info["episode_start"], info["events"]):
            h.update(np.ascontiguousarray(arr).tobytes())
        for k in sorted(info["reward_components"]):
            h.update(info["reward_components"][k].tobytes())
        for ep in info["episodes"]:
            ended += 1
            out = dict(ep["outcome"])
            heat = out.pop("damage_heatmap")
            h.update(np.ascontiguousarray(heat).tobytes())
            h.update(json.dumps({"return": ep["return"], "length": ep["length"], "env": ep["env"], **out},
                                sort_keys=True, default=str).encode())
    return h.hexdigest(), ended


CASES = {
    # 5v5 against the in-env heuristic, short matches: several resets and every end reason path.
    "5v5_heuristic_40": (EnvConfig(packs_per_team=1, size_x=40, size_y=40, episode_seconds=12.0), 4, 3, 150),
    # 10v10, both teams policy-driven, on the large map.
    "10v10_policy_100": (EnvConfig(packs_per_team=2, size_x=100, size_y=100, episode_seconds=20.0, red="policy"),
                         2, 7, 120),
}
GOLDEN = {
    "5v5_heuristic_40": "fc953ca9fd9d31796eb6373cf023ba047257ee7b105f583d24e092a6c43677dd",
    "10v10_policy_100": "d46fb7b65cd6437e19716fcc200a366bd1793c2dcc007db10dbf09334d3be112",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_env_outputs_match_golden_digest(name):
    cfg, n, seed, steps = CASES[name]
    digest, ended = _digest(cfg, n, seed, steps)
    assert ended >= n, "the case must cover auto-resets"
    assert digest == GOLDEN[name], f"{name}: env outputs changed (digest {digest})"
