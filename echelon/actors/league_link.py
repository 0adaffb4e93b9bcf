"""Arena training, driver side: the league file, the opponent sets the workers draw from, snapshots,
rating periods and the ``league/`` metrics (docs/league.md, "Arena training").

The orchestrator makes one :class:`LeagueLink` when ``league.path`` is set and calls
:meth:`LeagueLink.after_update` once per update. The link owns the league file for the run
(every change is an atomic rewrite):

- at start: load the league, refuse one of another env (its signature), publish the first
  :class:`~echelon.league.arena.LeagueSet` (the sampler plus, per checkpoint opponent, one
  ``ray.put`` of its weights; the workers fetch each once);
- per update: collect the match results the consumed fragments' headers carry
  (``FragmentHeader.matches``);
- every ``league.snapshot_every`` updates: write the learner's weights to
  ``RUN_DIR/league/checkpoints/ckpt_<update>.pt`` (the checkpoint format, policy only), add it as
  candidate ``<run_id>:<update>``, record the results since the previous snapshot as one rating
  period of that new entry (the learner's current entry) against the opponents it met (self-play
  matches are not rated: an entry cannot play itself), promote, retire, save, and publish a new
  set whose PFSP weights use the new entry's rating and which excludes it from the pool.
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any, Optional, Sequence

import ray

from echelon.checkpoint import Counters, TrainingState, build_payload, load_training_state, save_checkpoint
from echelon.config import TrainConfig, config_to_dict
from echelon.league.arena import LeagueSet, check_arena_config
from echelon.league.league import League
from echelon.league.opponents import policy_payload
from echelon.league.sampling import SELF, build_sampler
from echelon.league.signature import env_signature
from echelon.metrics import names as N
from echelon.metrics.schema import make_trace_id

log = logging.getLogger(__name__)

# Sampler kind -> the metric keys of its mix fraction and win rate.
KIND_KEYS = {
    "fixed": (N.LEAGUE_MIX_HEURISTIC, N.LEAGUE_WIN_RATE_HEURISTIC),
    "candidate": (N.LEAGUE_MIX_CANDIDATE, N.LEAGUE_WIN_RATE_CANDIDATE),
    "commander": (N.LEAGUE_MIX_COMMANDER, N.LEAGUE_WIN_RATE_COMMANDER),
    SELF: (N.LEAGUE_MIX_SELF, N.LEAGUE_WIN_RATE_SELF),
}


def snapshot_payload(cfg: TrainConfig, run_id: str, update: int, env_steps: int, model: dict) -> dict:
    """A checkpoint payload holding the policy ``model`` (a ``state_dict``) of ``update``.

    The learner part has the model only (empty optimiser state): it is what
    :func:`~echelon.model.loading.load_policy` (evaluation, ``arena.py``) reads, not a point to
    resume training from (those are ``RUN_DIR/checkpoints``).
    """
    learner = {"model": model, "optimizer": {},
               "counters": {"version": update, "env_steps": env_steps, "updates": update}}
    state = TrainingState(learner=learner, counters=Counters(update=update, env_steps=env_steps),
                          config=config_to_dict(cfg), run_id=run_id, trace_id=make_trace_id(run_id, update))
    return build_payload(state)


class LeagueLink:
    """The driver's side of arena training (see the module docstring).

    Args:
        cfg: the run config (``league.path`` set).
        run_dir: the run's folder; snapshots go under ``run_dir/league``.
        run_id: the run's id (snapshot ids are ``<run_id>:<update>``; on resume the newest entry of
            this run is the learner's current entry again).
        workers: the run's :class:`~echelon.actors.worker_set.WorkerSet`; its ``league`` attribute
            receives each new ``(version, ref)`` and goes out to every worker before its next sample.
    """

    def __init__(self, cfg: TrainConfig, run_dir: Path, run_id: str, workers: Any) -> None:
        check_arena_config(cfg)
        self.cfg, self.lc = cfg, cfg.league
        self.run_dir, self.run_id, self.workers = Path(run_dir), run_id, workers
        self.league = League.load(self.lc.path)
        self.league.check_signature(env_signature(cfg), "this run's config")
        mine = [e for e in self.league.entries.values() if e.meta.get("run_id") == run_id and e.checkpoint]
        newest = max(mine, key=lambda e: (e.meta.get("update", 0), e.created)) if mine else None
        self.current: Optional[str] = newest.id if newest else None
        self.results: list[tuple[str, float]] = []  # (opponent id, blue's score) since the last snapshot
        self.window: deque = deque(maxlen=cfg.metrics.window)  # (opponent kind, blue's score)
        self._refs: dict[str, Any] = {}  # checkpoint id -> ObjectRef of its policy_payload
        self.version = 0
        self.sampler = None
        self.publish()

    @classmethod
    def start(cls, cfg: TrainConfig, run_dir: Path, run_id: str, workers: Any) -> Optional["LeagueLink"]:
        """A link when ``league.path`` is set, else None."""
        return cls(cfg, run_dir, run_id, workers) if cfg.league.enabled else None

    # -- opponent sets ---------------------------------------------------------------------------

    def _weights_ref(self, entry_id: str) -> Any:
        """One ``ray.put`` per checkpoint entry for the whole run (workers fetch it once each)."""
        if entry_id not in self._refs:
            entry = self.league.get(entry_id)
            state = load_training_state(self.league.checkpoint_path(entry))
            self._refs[entry_id] = ray.put(policy_payload(state.config, state.learner["model"]))
        return self._refs[entry_id]

    def publish(self) -> LeagueSet:
        """Build the sampler for the learner's current entry and hand the set to the workers."""
        exclude = [self.current] if self.current else []
        sampler = build_sampler(self.league, self.lc, self.current, exclude=exclude)
        fire_probs, weights = {}, {}
        for entry_id, kind in zip(sampler.ids, sampler.kinds, strict=True):
            if kind == "fixed":
                fire_probs[entry_id] = float(self.league.get(entry_id).meta["fire_prob"])
            elif kind != SELF:
                weights[entry_id] = self._weights_ref(entry_id)
        self.version += 1
        self.sampler = sampler
        league_set = LeagueSet(self.version, sampler, fire_probs, weights)
        self.workers.league = (self.version, ray.put(league_set))
        log.info("league set %d: %s", self.version,
                 ", ".join(f"{i} {p:.2f}" for i, p in zip(sampler.ids, sampler.probs, strict=True)))
        return league_set

    # -- per update ------------------------------------------------------------------------------

    def after_update(self, update: int, env_steps: int, headers: Sequence[Any], weights_ref: Any) -> dict:
        """Take the results of the update's fragments; snapshot on schedule; the ``league/`` metrics."""
        for header in headers:
            for opponent, kind, score in getattr(header, "matches", ()):
                self.results.append((opponent, float(score)))
                self.window.append((kind, float(score)))
        if update % self.lc.snapshot_every == 0:
            self.snapshot(update, env_steps, ray.get(weights_ref))
        return self.metrics()

    def snapshot(self, update: int, env_steps: int, model: dict) -> str:
        """Add the learner (``model``, its weights after ``update``) as a candidate, rate the results
        since the last snapshot as one period, promote, retire, save, publish. Returns the new id."""
        entry_id, folder = self._free_slot(update)
        path = save_checkpoint(folder, update, snapshot_payload(self.cfg, self.run_id, update, env_steps, model))
        self.league.add_candidate(entry_id, path, meta={"run_id": self.run_id, "update": update,
                                                        "env_steps": env_steps})
        rated = [(entry_id, opp, score) for opp, score in self.results if opp != SELF and opp in self.league.entries]
        if rated:
            self.league.record_period(rated)
        self.results = []
        promoted = self.league.promote(self.lc.top_k)
        retired = self.league.retire_commanders(self.lc.keep_top, self.lc.min_games)
        self.league.save()
        self.current = entry_id
        self._refs[entry_id] = ray.put(policy_payload(config_to_dict(self.cfg), model))
        log.info("league: snapshot %s rated on %d matches; promoted %s; retired %s", entry_id, len(rated),
                 [e.id for e in promoted], [e.id for e in retired])
        self.publish()
        return entry_id

    def _free_slot(self, update: int) -> tuple[str, Path]:
        """``(entry id, folder)`` of the snapshot of ``update``: ``<run_id>:<update>`` under
        ``RUN_DIR/league``; after a resume that replays an update already snapshotted (its entry
        keeps the rating it earned), ``<run_id>:<update>~<k>`` under ``RUN_DIR/league/replay<k>``."""
        entry_id, folder, k = f"{self.run_id}:{update}", self.run_dir / "league", 0
        while entry_id in self.league.entries:
            k += 1
            entry_id, folder = f"{self.run_id}:{update}~{k}", self.run_dir / "league" / f"replay{k}"
        return entry_id, folder

    def metrics(self) -> dict[str, Any]:
        """``league/`` keys: the current entry's rating, pool size, mix and win rate per kind."""
        out: dict[str, Any] = {
            N.LEAGUE_POOL_SIZE: sum(k not in ("fixed",) for k in self.sampler.kinds),
            N.LEAGUE_WINDOW_MATCHES: len(self.window),
        }
        if self.current is not None:
            entry = self.league.get(self.current)
            out.update({N.LEAGUE_RATING: entry.rating, N.LEAGUE_RD: entry.rd,
                        N.LEAGUE_CONSERVATIVE: entry.conservative})
        if self.window:
            for kind, (mix_key, win_key) in KIND_KEYS.items():
                scores = [s for k, s in self.window if k == kind]
                out[mix_key] = len(scores) / len(self.window)
                if scores:
                    out[win_key] = sum(s == 1.0 for s in scores) / len(scores)
        return out
