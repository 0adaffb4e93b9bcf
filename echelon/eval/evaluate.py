"""Seeded evaluation matches of a checkpoint against the heuristic or another checkpoint.

Match ``i`` of an evaluation is generated from ``SeedSequence([seed, i])`` (the vector env's
per-slot seeding), so the same checkpoint, opponent and seed give the same result; sides
alternate (even matches: the policy plays blue, odd: red), so a map or spawn-side advantage
cancels out. Each match is played once to its end; results are from the policy's side.
Matches are spread over Ray tasks when ``workers > 1``; sampled (``greedy=False``) play is
reproducible for the same ``workers`` (the action draws are seeded per share of matches).
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch

from echelon.config import EnvConfig
from echelon.model.distributions import to_env_action
from echelon.model.loading import LoadedPolicy, check_policy_fits, load_policy

TEAMS = ("blue", "red")


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` of a binomial proportion (95% for the default ``z``)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def eval_env_config(
    base: EnvConfig,
    policy_side: str,
    opponent_is_policy: bool,
    fire_prob: Optional[float] = None,
    packs_per_team: Optional[int] = None,
    size: Optional[int] = None,
    episode_seconds: Optional[float] = None,
) -> EnvConfig:
    """The match config: ``base`` (the checkpoint's env) with the sides and the overrides applied.

    An evaluation match has one fixed layout: a training curriculum's ``size_range`` /
    ``packs_range`` are dropped, so matches are ``size`` (default: the base's ``size_x x size_y``)
    with ``packs_per_team`` (default: the base's) packs."""
    other = "policy" if opponent_is_policy else "heuristic"
    changes: dict[str, Any] = {
        "blue": "policy" if policy_side == "blue" else other,
        "red": "policy" if policy_side == "red" else other,
        "size_range": None,
        "packs_range": None,
    }
    if fire_prob is not None:
        changes["heuristic_weapon_fire_prob"] = float(fire_prob)
    if packs_per_team is not None:
        changes["packs_per_team"] = int(packs_per_team)
    if size is not None:
        changes["size_x"] = changes["size_y"] = int(size)
    if episode_seconds is not None:
        changes["episode_seconds"] = float(episode_seconds)
    return dataclasses.replace(base, **changes)


def play_matches(
    policy: LoadedPolicy,
    opponent: Optional[LoadedPolicy],
    env_cfg: EnvConfig,
    policy_side: str,
    match_ids: Sequence[int],
    seed: int,
    greedy: bool,
) -> list[dict[str, Any]]:
    """Play each match of ``match_ids`` once, all in one batched env; one result dict per match.

    Result: ``match`` id, ``side`` of the policy, ``result`` (``win | draw | loss`` for the
    policy), the env's ``reason``, ``length`` (steps), ``return`` (the policy team's mean episode
    return) and the policy team's combat totals.
    """
    from echelon.env.vec_env import EchelonVecEnv

    env = EchelonVecEnv(env_cfg, len(match_ids), match_ids=list(match_ids))
    obs = env.reset(seed)
    # Sampled actions draw from torch's generator: seed it from the evaluation seed and the matches.
    torch.manual_seed(int(np.random.SeedSequence([seed, *map(int, match_ids)]).generate_state(1)[0]))
    team_of_row = env.row_team  # [R] 0 blue, 1 red
    mine = team_of_row == TEAMS.index(policy_side)
    sides = [(policy, np.nonzero(mine)[0])]
    if opponent is not None:
        sides.append((opponent, np.nonzero(~mine)[0]))
    for loaded, _ in sides:
        check_policy_fits(loaded.policy, env.single_observation_space, env.single_action_space)
    states = [loaded.policy.initial_state(len(rows)) for loaded, rows in sides]
    starts = np.ones(env.num_rows, bool)
    results: dict[int, dict[str, Any]] = {}
    actions: dict[str, np.ndarray] = {}
    with torch.no_grad():
        while len(results) < len(match_ids):
            for s, (loaded, rows) in enumerate(sides):
                x = torch.from_numpy(np.ascontiguousarray(obs[rows], dtype=np.float32))
                start = torch.from_numpy(starts[rows].copy())
                action, _, _, states[s] = loaded.policy.act(x, states[s], start, deterministic=greedy)
                for key, value in to_env_action(loaded.policy.actor.space, action).items():
                    buf = actions.setdefault(key, np.zeros((env.num_rows, *value.shape[1:]), value.dtype))
                    buf[rows] = value
            obs, _, _, _, info = env.step(actions)
            starts = info["episode_start"].copy()
            for ep in info["episodes"]:
                slot = int(ep["env"])
                if slot not in results:
                    results[slot] = _result(ep, policy_side, int(match_ids[slot]))
    return [results[i] for i in range(len(match_ids))]


def _result(episode: dict[str, Any], side: str, match: int) -> dict[str, Any]:
    outcome = episode["outcome"]
    winner = outcome["winner"]
    result = "draw" if winner in ("draw", "none") else ("win" if winner == side else "loss")
    agents = [a for a in outcome["agents"] if a["team"] == side]
    enemies = [a for a in outcome["agents"] if a["team"] != side]
    return {
        "match": match,
        "side": side,
        "result": result,
        "reason": outcome["reason"],
        "length": int(episode["length"]),
        "return": float(episode["return"]),  # mean over the policy team's agents (the only rows)
        "damage_dealt": sum(a["damage_dealt"] for a in agents),
        "damage_taken": sum(a["damage_taken"] for a in agents),
        "kills": sum(a["kills"] for a in agents),
        "deaths": sum(not a["alive"] for a in agents),
        "enemy_deaths": sum(not a["alive"] for a in enemies),
    }


def play_evaluation(policy: LoadedPolicy, opponent: Optional[LoadedPolicy], match_ids: Sequence[int], seed: int,
                    greedy: bool, overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Play ``match_ids`` on ``policy``'s own env config with ``overrides`` (:func:`eval_env_config`'s
    keyword arguments): even ids with the policy as blue, odd ones as red; one result per match,
    blue's matches first."""
    out = []
    for side in TEAMS:
        ids = [m for m in match_ids if TEAMS[m % 2] == side]
        if ids:
            cfg = eval_env_config(policy.cfg.env, side, opponent is not None, **overrides)
            out += play_matches(policy, opponent, cfg, side, ids, seed, greedy)
    return out


def _play_share(checkpoint: str, opponent: Optional[str], match_ids: list[int], seed: int, greedy: bool,
                overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Load the policies and play ``match_ids`` (both sides); the unit of work of one process."""
    torch.set_num_threads(1)
    policy = load_policy(checkpoint)
    opp = load_policy(opponent) if opponent else None
    return play_evaluation(policy, opp, match_ids, seed, greedy, overrides)


def evaluate(
    checkpoint: str | Path,
    opponent: str = "heuristic",
    matches: int = 200,
    seed: int = 0,
    greedy: bool = True,
    workers: int = 1,
    fire_prob: Optional[float] = None,
    packs_per_team: Optional[int] = None,
    size: Optional[int] = None,
    episode_seconds: Optional[float] = None,
) -> dict[str, Any]:
    """Play ``matches`` seeded matches with alternating sides; summary dict (see :func:`summarize`).

    ``opponent``: ``"heuristic"`` (the env's scripted team at ``fire_prob``, default the
    checkpoint's ``env.heuristic_weapon_fire_prob``) or a checkpoint path.
    """
    t0 = time.perf_counter()
    opp = None if opponent == "heuristic" else str(opponent)
    overrides = dict(fire_prob=fire_prob, packs_per_team=packs_per_team, size=size, episode_seconds=episode_seconds)
    ids = list(range(matches))
    if workers <= 1:
        results = _play_share(str(checkpoint), opp, ids, seed, greedy, overrides)
    else:
        import ray

        started = not ray.is_initialized()
        if started:
            ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning")
        try:
            task = ray.remote(num_cpus=1)(_play_share)
            shares = [ids[w::workers] for w in range(workers)]
            results = [r for part in ray.get([task.remote(str(checkpoint), opp, s, seed, greedy, overrides)
                                              for s in shares if s]) for r in part]
        finally:
            if started:
                ray.shutdown()
    results.sort(key=lambda r: r["match"])
    summary = summarize(results)
    summary.update(checkpoint=str(checkpoint), opponent=opponent, seed=seed, greedy=greedy,
                   wall_s=round(time.perf_counter() - t0, 2), **{k: v for k, v in overrides.items() if v is not None})
    return summary


def summarize(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Wins/draws/losses with a Wilson 95% interval on the win rate, per side, end reasons, means of
    the length, return and combat totals (``mean_<key>``)."""
    n = len(results)
    count = {k: sum(r["result"] == k for r in results) for k in ("win", "draw", "loss")}
    low, high = wilson_interval(count["win"], n)
    out: dict[str, Any] = {
        "matches": n,
        "wins": count["win"],
        "draws": count["draw"],
        "losses": count["loss"],
        "win_rate": count["win"] / n if n else 0.0,
        "win_rate_ci95": [round(low, 4), round(high, 4)],
        "by_side": {},
        "reasons": {},
    }
    for side in TEAMS:
        part = [r for r in results if r["side"] == side]
        if part:
            wins = sum(r["result"] == "win" for r in part)
            out["by_side"][side] = {"matches": len(part), "wins": wins, "win_rate": wins / len(part)}
    for r in results:
        out["reasons"][r["reason"]] = out["reasons"].get(r["reason"], 0) + 1
    for key in ("length", "return", "damage_dealt", "damage_taken", "kills", "deaths", "enemy_deaths"):
        out[f"mean_{key}"] = float(np.mean([r[key] for r in results])) if n else 0.0
    return out
