"""The evaluation a training run makes of its own weights every ``eval.every`` updates (no Ray here).

:func:`run_eval` is the whole job: the current weights (a policy ``state_dict``, as the learner
publishes it) play ``eval.matches`` seeded matches against the heuristic at ``eval.fire_prob``
on the run's own ``env`` match (:func:`echelon.eval.evaluate.play_evaluation`: match ``i`` from
``(eval.seed, i)``, sides alternated), optionally recording match 0 as a GIF. The same weights
and config give the same result. The driver runs it as a Ray task (echelon/actors/evaluation.py);
:func:`eval_record` turns its answer into the ``eval/`` keys of an update record.

The curriculum does not reach an evaluation: it always plays the full match the env config
describes, so evaluations stay comparable over the run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import torch

from echelon.config import TrainConfig
from echelon.eval.evaluate import play_evaluation, summarize
from echelon.metrics import names as N

# eval/ key of each end reason (ENV_SPEC's reasons, as in the returns/ end-reason family).
EVAL_REASON_KEYS = {
    "zone": N.EVAL_END_ZONE_RATE,
    "elimination": N.EVAL_END_ELIMINATION_RATE,
    "time": N.EVAL_END_TIME_RATE,
}


def run_eval(cfg: TrainConfig, weights: dict, *, update: int, version: int, gif: bool) -> dict[str, Any]:
    """Evaluate ``weights`` (the policy ``state_dict`` of ``cfg``'s model) as ``cfg.eval`` says.

    Returns ``{"summary": evaluate.summarize(...), "update", "version", "wall_s", "gif": bytes | None,
    "gif_outcome": dict | None}`` (the GIF's bytes, so the caller writes it where the run lives,
    whichever node this ran on). Uses one torch thread: it runs beside the run's workers.
    """
    from echelon.model.loading import policy_from_weights

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        e = cfg.eval
        policy = policy_from_weights(cfg, weights, {"update": update, "version": version}, where="the run's weights")
        results = play_evaluation(policy, None, range(e.matches), e.seed, e.greedy, {"fire_prob": e.fire_prob})
        results.sort(key=lambda r: r["match"])
        out: dict[str, Any] = {"summary": summarize(results), "update": int(update), "version": int(version),
                               "gif": None, "gif_outcome": None}
        if gif:
            out["gif"], out["gif_outcome"] = _gif(policy, cfg, e.seed, e.greedy)
    finally:
        torch.set_num_threads(threads)
    out["wall_s"] = time.perf_counter() - t0
    return out


def _gif(policy: Any, cfg: TrainConfig, seed: int, greedy: bool) -> tuple[bytes, Optional[dict]]:
    from echelon.eval.evaluate import eval_env_config
    from echelon.viz.policy_gif import match_gif

    env_cfg = eval_env_config(cfg.env, "blue", False, fire_prob=cfg.eval.fire_prob)
    with tempfile.TemporaryDirectory(prefix="echelon-eval-") as tmp:
        path = Path(tmp) / "match.gif"
        _, _, outcome = match_gif(policy, env_cfg, path, seed=seed, greedy=greedy)
        return path.read_bytes(), outcome


def eval_record(result: dict[str, Any]) -> dict[str, Any]:
    """The ``eval/`` keys of one :func:`run_eval` answer (no GIF: the driver adds it once written)."""
    s = result["summary"]
    n = int(s["matches"])
    low, high = s["win_rate_ci95"]
    out: dict[str, Any] = {
        N.EVAL_WIN_RATE: s["wins"] / n,
        N.EVAL_DRAW_RATE: s["draws"] / n,
        N.EVAL_LOSS_RATE: s["losses"] / n,
        N.EVAL_CI_LOW: float(low),
        N.EVAL_CI_HIGH: float(high),
        N.EVAL_RETURN_MEAN: float(s["mean_return"]),
        N.EVAL_LENGTH_MEAN: float(s["mean_length"]),
        N.EVAL_KILLS: float(s["mean_kills"]),
        N.EVAL_DEATHS: float(s["mean_deaths"]),
        N.EVAL_MATCHES: n,
        N.EVAL_UPDATE: int(result["update"]),
        N.EVAL_POLICY_VERSION: int(result["version"]),
        N.EVAL_WALL_S: float(result["wall_s"]),
    }
    for reason, key in EVAL_REASON_KEYS.items():
        out[key] = s["reasons"].get(reason, 0) / n
    return out
