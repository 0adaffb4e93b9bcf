"""Evaluations during training: the driver's side of :func:`echelon.eval.periodic.run_eval`.

Every ``eval.every`` updates the driver hands the weights it just published (their ObjectRef: no
copy through the driver) to an evaluation actor and goes on at once; the loop polls for the
answer when it writes an update record, and the first record after the answer arrived carries
the ``eval/`` keys (``eval/update`` names the weights evaluated), so the event loop never waits
on an evaluation except at the end of the run, which waits up to ``eval.timeout_s`` for the last
one so that a run's final evaluation reaches its log. One evaluation runs at a time; one that
falls due while the previous is still playing is skipped (with a warning).

The actor is created at the first evaluation (a run without evaluations pays nothing) and keeps
its process, so torch and the env are imported once. It asks for ``eval.num_cpus`` (0 by default:
the run's workers and learner hold every CPU of a laptop, and an actor waiting for a CPU would
never evaluate; it then borrows about one core for a few seconds per evaluation). Its GIF comes
back as bytes and is written here under ``RUN_DIR/media/``, on the driver's filesystem, whichever
node played the match; the metrics actor (pinned to this node) hands it to W&B as a video.
An evaluation that fails is logged as a warning and skipped: it never stops training.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import ray

from echelon.config import TrainConfig
from echelon.eval.periodic import eval_record, run_eval
from echelon.metrics import names as N
from echelon.metrics.media import Video, write_media_bytes

log = logging.getLogger(__name__)


class EvalActor:
    """Plain class; ``ray.remote(EvalActor)`` is the actor (one per run, created on first use)."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg

    def run(self, weights: dict, update: int, version: int, gif: bool) -> dict[str, Any]:
        """:func:`~echelon.eval.periodic.run_eval` of ``weights`` (Ray resolves the driver's ref)."""
        return run_eval(self.cfg, weights, update=update, version=version, gif=gif)


class PeriodicEvaluator:
    """Starts evaluations when due and turns their answers into ``eval/`` record keys.

    Args:
        cfg: the run config (``cfg.eval``; ``every == 0`` turns everything here off).
        run_dir: where ``media/`` is.
    """

    def __init__(self, cfg: TrainConfig, run_dir: str | Path) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.actor: Any = None
        self.pending: Optional[tuple[Any, int]] = None  # (result ref, update evaluated)
        self.failures = 0

    @property
    def enabled(self) -> bool:
        return self.cfg.eval.every > 0

    def gif_due(self, update: int) -> bool:
        """Whether the evaluation at ``update`` records a GIF: every ``gif_every``-th evaluation,
        counted from the run's start (``update // every``), so a resumed run keeps the rhythm."""
        e = self.cfg.eval
        return e.gif_every > 0 and (update // e.every) % e.gif_every == 0

    def maybe_start(self, update: int, version: int, weights_ref: Any) -> bool:
        """Start the evaluation of ``weights_ref`` when ``update`` is a multiple of ``eval.every``."""
        if not self.enabled or update % self.cfg.eval.every:
            return False
        if self.pending is not None:
            log.warning("the evaluation of update %d is still running at update %d; skipping this one "
                        "(raise eval.every or lower eval.matches)", self.pending[1], update)
            return False
        if self.actor is None:
            self.actor = ray.remote(EvalActor).options(num_cpus=self.cfg.eval.num_cpus, max_restarts=0).remote(self.cfg)
        ref = self.actor.run.remote(weights_ref, update, version, self.gif_due(update))
        self.pending = (ref, update)
        return True

    def collect(self, wait_s: float = 0.0) -> dict[str, Any]:
        """The ``eval/`` keys of the evaluation that finished, or {} (none running, or not done
        within ``wait_s`` seconds; after a wait that ran out it is abandoned)."""
        if self.pending is None:
            return {}
        ref, update = self.pending
        ready, _ = ray.wait([ref], timeout=wait_s)
        if not ready:
            if wait_s > 0:
                log.warning("the evaluation of update %d did not finish within %.0f s (eval.timeout_s); "
                            "its result is not logged", update, wait_s)
                self.cancel()
            return {}
        self.pending = None
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            self.failures += 1
            log.warning("the evaluation of update %d failed (%s: %s); training goes on", update,
                        type(exc).__name__, (str(exc).splitlines() or [""])[0][:300])
            if isinstance(exc, ray.exceptions.RayActorError):
                self.actor = None  # gone: the next evaluation starts a new one
            return {}
        record = eval_record(result)
        if result.get("gif"):
            rel = write_media_bytes(self.run_dir, N.EVAL_MATCH_GIF, update, ".gif", result["gif"])
            record[N.EVAL_MATCH_GIF] = Video(rel, self._caption(update, result.get("gif_outcome")))
        log.info("evaluation of update %d: win rate %.3f [%.3f, %.3f] over %d matches (%.1f s)", update,
                 record[N.EVAL_WIN_RATE], record[N.EVAL_CI_LOW], record[N.EVAL_CI_HIGH], record[N.EVAL_MATCHES],
                 record[N.EVAL_WALL_S])
        return record

    def _caption(self, update: int, outcome: Optional[dict]) -> str:
        e = self.cfg.eval
        how = f"{'greedy' if e.greedy else 'sampled'} vs the heuristic at fire prob {e.fire_prob:g}"
        if not outcome:
            return f"evaluation match 0 at update {update}, {how}"
        return (f"evaluation match 0 at update {update}, {how}: {outcome.get('winner')} won "
                f"({outcome.get('reason')}, {outcome.get('length')} steps)")

    def cancel(self) -> None:
        """Abandon the evaluation in flight: the actor is killed (a running actor call cannot be
        cancelled otherwise) and the next evaluation starts a new one."""
        self.close()

    def close(self) -> None:
        """Drop the evaluation in flight and free the actor's process."""
        self.pending = None
        if self.actor is not None:
            ray.kill(self.actor, no_restart=True)
            self.actor = None
