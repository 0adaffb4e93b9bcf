"""Compact per-episode records: what a rollout worker sends the metrics actor for one finished match.

The vector env reports a finished episode as ``{"return", "length", "outcome", ...}`` (see
docs/interfaces.md); Echelon's ``outcome`` carries the match stats, one row per mech, death
positions and a damage heat map, and the episode dict adds the reward components, the team
returns and (when asked) a movement occupancy grid. :func:`compact_episode` keeps only what the
metric families read, as plain numbers, small lists and float32 grids: no per-step vectors, a few
kilobytes per match at most. It is idempotent, so the hub accepts raw or compact records alike.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from echelon.metrics.actions import action_columns, sample_actions

COMPACT = "compact"  # marker key of a compact record

# Match stats the families read (echelon.metrics.families); the rest stay on the worker.
KEPT_STATS = (
    "damage_blue", "damage_red", "kills_blue", "kills_red", "deaths_blue", "deaths_red",
    "assists_blue", "assists_red", "zone_ticks_blue", "zone_ticks_red", "contested_ticks",
    "first_zone_entry_step", "pack_dispersion_sum_blue", "pack_dispersion_count_blue",
    "centroid_zone_dist_sum_blue", "focus_fire_concentration_blue", "visible_contacts_sum_blue",
    "visible_contacts_count_blue", "hostile_filter_on_count_blue", "ecm_on_ticks_blue",
    "eccm_on_ticks_blue", "scout_ticks_blue",
)
AGENT_COLUMNS = ("id", "team", "class", "alive", "damage_dealt", "damage_taken", "kills", "assists", "reward")


def episode_winner(episode: dict) -> Optional[str]:
    """``"blue" | "red" | "draw"`` for an episode dict (raw or compact), None when it has no outcome.

    ENV_SPEC reports ``outcome`` as a dict with a ``winner`` key; a bare string is accepted too.
    """
    if episode.get(COMPACT):
        return episode.get("winner")
    outcome = episode.get("outcome")
    if isinstance(outcome, dict):
        outcome = outcome.get("winner")
    return outcome if isinstance(outcome, str) else None


def episode_end_reason(episode: dict) -> Optional[str]:
    """Why an Echelon episode ended (``"zone" | "elimination" | "time"``), None when not reported."""
    if episode.get(COMPACT):
        return episode.get("reason")
    outcome = episode.get("outcome")
    reason = outcome.get("reason") if isinstance(outcome, dict) else None
    return reason if isinstance(reason, str) else None


def compact_episode(ep: dict[str, Any], full: bool = True) -> dict[str, Any]:
    """The compact record of one finished episode (``full=False``: return, length, outcome only).

    Keys: ``return`` (float), ``length`` (int, env steps), ``winner`` and ``reason`` (str or
    None), ``team_returns`` ({team: float}, when reported), the match's ``size`` (m) and
    ``packs_per_team`` (int, when reported: Echelon's curriculum over the match) and, when
    ``full`` and the episode is an Echelon match: ``stats`` ({name: float} of :data:`KEPT_STATS`), ``reward_components``
    ({component: float}), ``agents`` (list of dicts with :data:`AGENT_COLUMNS`), ``deaths``
    (``[[x, y, team], ...]``, world metres), ``damage_grid`` (float32 ``[B, B]``, HP per cell of
    the map split into ``B x B``, x first), ``occupancy`` (float32 ``[2, B, B]``: living
    mech-steps per cell of blue, red; absent unless the env tracks it) and ``map_size`` ([X, Y] m).
    """
    if ep.get(COMPACT):
        return ep
    out: dict[str, Any] = {
        COMPACT: True,
        "return": float(ep["return"]),
        "length": int(ep["length"]),
        "winner": episode_winner(ep),
        "reason": episode_end_reason(ep),
    }
    if ep.get("team_returns"):
        out["team_returns"] = {k: float(v) for k, v in ep["team_returns"].items()}
    for key in ("size", "packs_per_team"):
        if ep.get(key) is not None:
            out[key] = int(ep[key])
    outcome = ep.get("outcome")
    if not full or not isinstance(outcome, dict):
        return out
    stats = outcome.get("stats") or {}
    out["stats"] = {k: float(stats[k]) for k in KEPT_STATS if k in stats}
    if ep.get("reward_components"):
        out["reward_components"] = {k: float(v) for k, v in ep["reward_components"].items()}
    out["agents"] = [{k: a[k] for k in AGENT_COLUMNS if k in a} for a in outcome.get("agents", ())]
    out["deaths"] = [[float(x), float(y), str(team)] for x, y, team in outcome.get("death_positions", ())]
    if outcome.get("damage_heatmap") is not None:
        out["damage_grid"] = np.asarray(outcome["damage_heatmap"], dtype=np.float32)
    if ep.get("occupancy") is not None:
        out["occupancy"] = np.asarray(ep["occupancy"], dtype=np.float32)
    if outcome.get("map_size") is not None:
        out["map_size"] = [float(v) for v in outcome["map_size"]]
    return out


def agent_table(ep: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """``(columns, rows)`` of one compact match: a row per mech (agent, team, class, alive,
    damage dealt and taken in HP, kills, assists, reward total); empty when it has no agent rows."""
    columns = ["agent", "team", "class", "alive", "damage_dealt", "damage_taken", "kills", "assists", "reward_total"]
    rows = [
        [f"{a.get('team', '?')}_{a.get('id', i)}", a.get("team"), a.get("class"), bool(a.get("alive")),
         round(float(a.get("damage_dealt", 0.0)), 3), round(float(a.get("damage_taken", 0.0)), 3),
         int(a.get("kills", 0)), int(a.get("assists", 0)), round(float(a.get("reward", 0.0)), 4)]
        for i, a in enumerate(ep.get("agents", ()))
    ]
    return columns, rows


class EpisodeReporter:
    """What a worker tells the metrics actor about each fragment (kept apart from the Ray shell).

    ``metrics.level: full``: compact episode records with match stats, agent rows and heat-map
    inputs (the env is asked to track movement occupancy), plus an action sample of at most
    ``metrics.action_sample_values`` values on every ``metrics.histogram_every``-th fragment
    (the first one included): the action histograms are drawn that often, and a sample on every
    fragment would cost a larger actor call per fragment for data the hub mostly drops;
    ``minimal``: bare returns and outcomes, no sample.
    """

    def __init__(self, cfg: Any, seed: int) -> None:
        self.full = cfg.metrics.level == "full"
        self.budget = cfg.metrics.action_sample_values if self.full else 0
        self.rng = np.random.default_rng(seed)
        self.sample_every = max(1, int(cfg.metrics.histogram_every))
        self.columns: list = []
        self.episodes_sent = 0
        self.fragments = 0

    def attach(self, collector: Any) -> None:
        """Name the action columns of ``collector``'s env and switch on what the metrics need."""
        env = collector.env
        self.columns = action_columns(env.single_action_space)
        track = getattr(env, "track_occupancy", None)
        if self.full and track is not None:
            track(True)

    def report(self, frag: Any) -> tuple[list[dict], Optional[dict]]:
        """``(compact episode records, action sample or None)`` of one fragment."""
        episodes = [compact_episode(ep, full=self.full) for ep in frag.episodes]
        self.episodes_sent += len(episodes)
        due = self.budget and self.fragments % self.sample_every == 0
        self.fragments += 1
        sample = sample_actions(frag.actions, frag.valid, self.columns, self.budget, self.rng) if due else None
        return episodes, sample
