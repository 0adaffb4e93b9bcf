"""Ours vs RLlib on the same Echelon config, cores and wall time (``scripts/bench_vs_rllib.py``).

Each system gets a fresh local Ray instance of ``num_cpus`` CPUs and ``seconds`` of wall time,
counted from before it creates any actor (set-up is part of the cost a user pays) to the end
of the update / training iteration that crosses the budget; they run one after the other.

Throughput: env steps (one per match step) trained per wall-clock second, end to end and in the
steady state (from the first update / iteration to the last). Agent steps are counted as each
system counts them: ours, every learning-agent row of a fragment (a dead mech's rows included,
masked out of the loss); RLlib, the steps of agents still alive.

Learning: the learning team's mean per-agent return and win rate over the last
``metrics.window`` matches, ours from ``train_log.jsonl`` at the first update whose env steps reach
what RLlib trained in total (equal env steps), RLlib's from its callback at its last iteration
(:mod:`echelon.baselines.rllib`, same definitions); and both along the whole of RLlib's curve
(:func:`along_curve`: ours read at each of RLlib's iterations, the means over them).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Optional, Sequence

from echelon.config import TrainConfig, load_config
from echelon.metrics import names as N



def _init_ray(num_cpus: int) -> None:
    import ray

    ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="warning")


def _rates(marks: list[tuple[float, int, int]]) -> dict:
    """``marks``: ``(seconds since start, env steps, agent steps)`` after each update / iteration."""
    t1, s1, a1 = marks[-1]
    out = {"env_steps": s1, "agent_steps": a1, "wall_s": round(t1, 1),
           "env_steps_per_s": round(s1 / t1, 1), "agent_steps_per_s": round(a1 / t1, 1),
           "steady_env_steps_per_s": None, "iterations": len(marks)}
    if len(marks) > 1:
        t0, s0, _ = marks[0]
        out["steady_env_steps_per_s"] = round((s1 - s0) / (t1 - t0), 1)
    return out


def our_parameters(cfg: TrainConfig) -> int:
    from echelon.actors.spawn import env_spaces
    from echelon.model.actor_critic import build_policy

    policy = build_policy(cfg, *env_spaces(cfg))
    return int(sum(p.numel() for p in policy.parameters() if p.requires_grad))


def run_ours(cfg: TrainConfig, seconds: float, num_cpus: int, run_dir: Path) -> dict:
    """Our actor-learner (``Orchestrator``) for ``seconds``; rates, and the update log's learning curve."""
    import ray

    from echelon.actors.orchestrator import Orchestrator

    _init_ray(num_cpus)
    marks: list[tuple[float, int, int]] = []
    t0 = time.perf_counter()

    def on_update(orch: Orchestrator, record: dict) -> None:
        elapsed = time.perf_counter() - t0
        marks.append((elapsed, record[N.TRAIN_ENV_STEPS], record[N.TRAIN_AGENT_STEPS]))
        if elapsed >= seconds and orch.stop_at_update is None:
            orch.stop_at_update = record[N.TRAIN_UPDATE]  # the update in flight still lands

    try:
        Orchestrator(cfg, run_dir, on_update=on_update).run()
    finally:
        ray.shutdown()
    updates = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    updates = [r for r in updates if r.get(N.KIND) == N.KIND_UPDATE]
    curve = [(r[N.TRAIN_ENV_STEPS], r.get(N.RETURNS_MEAN), r.get(N.RETURNS_WIN_RATE)) for r in updates]
    return {**_rates(marks), "parameters": our_parameters(cfg), "curve": curve, "log": str(run_dir / "train_log.jsonl")}


def run_rllib(cfg: TrainConfig, seconds: float, num_cpus: int) -> dict:
    """RLlib's PPO (:func:`~echelon.baselines.rllib.build_ppo_config`) for ``seconds``."""
    import ray

    from echelon.baselines.rllib import MatchWindow, build_ppo_config, num_parameters

    _init_ray(num_cpus)
    marks: list[tuple[float, int, int]] = []
    curve = []
    sample_s, learn_s = [], []
    window = MatchWindow(cfg.metrics.window)
    t0 = time.perf_counter()
    try:
        algo = build_ppo_config(cfg).build_algo()
        try:
            while not marks or marks[-1][0] < seconds:
                res = algo.train()
                runners = res["env_runners"]
                env_steps = int(runners["num_env_steps_sampled_lifetime"])
                agent_steps = int(sum(runners["num_agent_steps_sampled_lifetime"].values()))
                marks.append((time.perf_counter() - t0, env_steps, agent_steps))
                curve.append((env_steps, *window.add(runners)))
                timers = res.get("timers", {})
                sample_s.append(timers.get("env_runner_sampling_timer"))
                learn_s.append(timers.get("learner_update_timer"))
            params = num_parameters(algo)
        finally:
            algo.stop()
    finally:
        ray.shutdown()
    # RLlib alternates: sample a full train batch, then learn on it (its timers, seconds per
    # iteration, smoothed by RLlib); their sum is about the iteration's wall time.
    timing = {"sample_s_per_iteration": sample_s[-1], "learn_s_per_iteration": learn_s[-1]}
    return {**_rates(marks), "parameters": params, "curve": curve, **timing}


def at_env_steps(curve: Sequence[tuple], env_steps: int) -> Optional[dict]:
    """The first point of ``curve`` (``(env steps, return, win rate)``, ascending) at or past ``env_steps``."""
    for steps, ret, win in curve:
        if steps >= env_steps:
            return {"env_steps": steps, "return_mean": ret, "win_rate": win}
    return None


def along_curve(ours: Sequence[tuple], rllib: Sequence[tuple]) -> Optional[dict]:
    """Both learning curves compared at every point of RLlib's (one per training iteration) that
    ours reached: ours read with :func:`at_env_steps`. Less noisy than the one equal point at the
    end, and defined even when ours stopped short of RLlib's total.

    Returns the number of points compared, the first of them (``from_env_steps``), the mean
    return and win rate of each system over them, and on how many points ours was at least level
    (``ours_level_or_ahead``); None when no point of RLlib's with both figures lies within ours.
    """
    pairs = []
    for steps, ret, win in rllib:
        mine = at_env_steps(ours, steps)
        if mine is not None and None not in (ret, win, mine["return_mean"], mine["win_rate"]):
            pairs.append((mine["return_mean"], mine["win_rate"], ret, win, steps))
    if not pairs:
        return None
    n = len(pairs)

    def mean(i: int) -> float:
        return round(sum(p[i] for p in pairs) / n, 3)

    return {
        "points": n,
        # The first point compared: RLlib may have figures before ours has any.
        "from_env_steps": pairs[0][4],
        "ours": {"return_mean": mean(0), "win_rate": mean(1)},
        "rllib": {"return_mean": mean(2), "win_rate": mean(3)},
        "ours_level_or_ahead": {"return_mean": sum(p[0] >= p[2] for p in pairs),
                                "win_rate": sum(p[1] >= p[3] for p in pairs)},
    }


def _ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    # A ratio of returns or win rates means something only against a positive baseline.
    if a is None or b is None or b <= 0:
        return None
    return round(a / b, 3)


def compare(config: str, overrides: Sequence[str] = (), seconds: float = 300.0, num_cpus: int = 2,
            run_dir: Optional[Path] = None, rllib_seconds: Optional[float] = None) -> dict:
    """Run ours, then RLlib, on ``config`` + ``overrides``; the JSON-ready comparison.

    ``rllib_seconds`` (default ``seconds``) gives RLlib a longer budget, to compare learning at a
    larger equal env-step count; the throughput ratios then still compare rates.
    """
    cfg = load_config(config, [*overrides, "metrics.wandb_mode=disabled", "metrics.console=false",
                               f"learner.total_env_steps={10**12}", "ray.address=local"])
    run_dir = Path(run_dir or Path("runs") / f"bench_vs_rllib-{time.strftime('%Y%m%d-%H%M%S')}")
    # The 1-minute load average before and after each run: on a shared machine, other people's
    # processes take cores from both systems; a high figure says the run was disturbed.
    load = {"before_ours": os.getloadavg()[0]}
    ours = run_ours(cfg, seconds, num_cpus, run_dir)
    load["after_ours"] = os.getloadavg()[0]
    rllib = run_rllib(cfg, rllib_seconds or seconds, num_cpus)
    load["after_rllib"] = os.getloadavg()[0]
    rl_final = rllib["curve"][-1]
    equal = at_env_steps(ours["curve"], rllib["env_steps"])
    learning = {
        "equal_env_steps": rllib["env_steps"],
        "rllib": {"return_mean": rl_final[1], "win_rate": rl_final[2]},
        "ours": equal,
        "ours_at_end": {"env_steps": ours["env_steps"], "return_mean": ours["curve"][-1][1],
                        "win_rate": ours["curve"][-1][2]},
        "along_rllib_curve": along_curve(ours["curve"], rllib["curve"]),
    }
    ours_ret = equal["return_mean"] if equal else None
    ours_win = equal["win_rate"] if equal else None
    ratio = {
        "env_steps_per_s": _ratio(ours["env_steps_per_s"], rllib["env_steps_per_s"]),
        "steady_env_steps_per_s": _ratio(ours["steady_env_steps_per_s"], rllib["steady_env_steps_per_s"]),
        "agent_steps_per_s": _ratio(ours["agent_steps_per_s"], rllib["agent_steps_per_s"]),
        "return_mean_at_equal_env_steps": _ratio(ours_ret, rl_final[1]),
        "win_rate_at_equal_env_steps": _ratio(ours_win, rl_final[2]),
    }
    difference = {
        "return_mean_at_equal_env_steps": None if ours_ret is None or rl_final[1] is None
        else round(ours_ret - rl_final[1], 3),
        "win_rate_at_equal_env_steps": None if ours_win is None or rl_final[2] is None
        else round(ours_win - rl_final[2], 3),
    }
    # RLlib's curve is short (one point per iteration); ours is in its log.
    rllib["curve"] = [[steps, None if r is None else round(r, 3), w] for steps, r, w in rllib["curve"]]
    return {
        "config": config,
        "overrides": list(overrides),
        "seconds_each": seconds,
        "rllib_seconds": rllib_seconds or seconds,
        "num_cpus": num_cpus,
        "machine": {"cpus_total": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_1min": {k: round(v, 2) for k, v in load.items()}},
        "env": {"packs_per_team": cfg.env.packs_per_team, "map": [cfg.env.size_x, cfg.env.size_y],
                "episode_seconds": cfg.env.episode_seconds, "heuristic_weapon_fire_prob":
                cfg.env.heuristic_weapon_fire_prob},
        "sizes": {"env_runners_or_workers": cfg.ray.num_workers, "envs_each": cfg.rollout.num_envs,
                  "fragment_len": cfg.rollout.fragment_len, "epochs": cfg.ppo.epochs,
                  "num_minibatches": cfg.ppo.num_minibatches, "bptt_len": cfg.ppo.bptt_len,
                  "hidden_size": cfg.model.hidden_size, "lstm_size": cfg.model.lstm_size},
        "ours": {k: v for k, v in ours.items() if k != "curve"},
        "rllib": rllib,
        "learning": learning,
        "ratio_ours_over_rllib": ratio,
        "difference_ours_minus_rllib": difference,
    }
