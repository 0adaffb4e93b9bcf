"""The recommended W&B dashboard: six rows of panels over the metric families, as data.

:data:`ROWS` is the layout (docs/observability.md shows it as a table). :func:`build_workspace`
turns it into a W&B saved workspace with the ``wandb-workspaces`` package (W&B's Workspace API,
in public preview; not a dependency of Echelon: ``pip install wandb-workspaces``). W&B keeps
workspaces on its server, so there is nothing to import for a run that stays offline: sync the run
first (``wandb sync RUN_DIR/wandb/offline-run-*``), then save the workspace into its project
(``scripts/wandb_workspace.py --entity ... --project ... --save``).
"""

from __future__ import annotations

from typing import Any

from echelon.metrics import names as N

Panel = dict[str, Any]


def _line(title: str, *keys: str) -> Panel:
    return {"kind": "line", "title": title, "keys": list(keys)}


def _media(title: str, *keys: str) -> Panel:
    return {"kind": "media", "title": title, "keys": list(keys)}


ACTION_DIMS = ("forward", "strafe", "vertical", "yaw", "primary", "vent", "secondary", "tertiary", "special",
               "target", "ewar", "sort", "hostile_only")
REWARD_PARTS = ("zone", "approach", "damage", "kill", "assist", "death", "outcome")

# (row title, panels); every key is a metric key of echelon.metrics.names. Line panels plot
# against the update (W&B's step); histograms and images are browsed per step.
ROWS: tuple[tuple[str, list[Panel]], ...] = (
    ("Progress", [
        _line("Return (mean, p10, p90)", N.RETURNS_MEAN, N.RETURNS_P10, N.RETURNS_P90),
        _line("Outcomes vs the heuristic", N.RETURNS_WIN_RATE, N.RETURNS_DRAW_RATE, N.RETURNS_LOSS_RATE),
        _line("End reasons", N.RETURNS_END_ZONE_RATE, N.RETURNS_END_ELIMINATION_RATE, N.RETURNS_END_TIME_RATE),
        _line("Throughput (env steps/s)", N.TRAIN_SPS),
        _line("Episode length (steps)", N.RETURNS_LENGTH_MEAN),
        _line("Reward mix per agent per match", *(N.reward_key(p) for p in REWARD_PARTS)),
        _line("Evaluation vs the full-strength heuristic (win rate, 95% CI)", N.EVAL_WIN_RATE, N.EVAL_CI_LOW,
              N.EVAL_CI_HIGH, N.EVAL_DRAW_RATE),
        _line("Evaluation end reasons", N.EVAL_END_ZONE_RATE, N.EVAL_END_ELIMINATION_RATE, N.EVAL_END_TIME_RATE),
        _line("Curriculum: stage and heuristic fire probability", N.CURRICULUM_STAGE, N.CURRICULUM_WEAPON_FIRE_PROB),
        _media("Evaluation match", N.EVAL_MATCH_GIF),
    ]),
    ("Policy health", [
        _line("Entropy", N.TRAIN_ENTROPY),
        _line("Approx KL and clip fraction", N.TRAIN_APPROX_KL, N.TRAIN_CLIPFRAC),
        _line("Losses", N.TRAIN_POLICY_LOSS, N.TRAIN_VALUE_LOSS),
        _line("Explained variance", N.POLICY_EXPLAINED_VAR),
        _line("Gradient norm (pre-clip)", N.TRAIN_GRAD_NORM),
        _line("Action std, policy std, saturation", N.POLICY_ACTION_STD, N.POLICY_STD, N.POLICY_SATURATION),
        _line("Trigger rates", *(N.trigger_rate_key(d) for d in ACTION_DIMS[4:])),
        _line("Policy lag (versions)", N.SYSTEM_POLICY_LAG_MAX, N.SYSTEM_POLICY_LAG_MEAN),
    ]),
    ("Combat", [
        _line("Damage per mech per match (HP)", N.COMBAT_DAMAGE_DEALT, N.COMBAT_DAMAGE_TAKEN),
        _line("Damage ratio", N.COMBAT_DAMAGE_RATIO),
        _line("Kill participation and survival", N.COMBAT_KILL_PARTICIPATION, N.COMBAT_SURVIVAL_RATE),
        _line("Zone control (fractions of the match)", N.ZONE_CONTROL_MARGIN, N.ZONE_CONTESTED_RATIO,
              N.ZONE_FIRST_ENTRY),
    ]),
    ("Coordination", [
        _line("Pack dispersion and centroid to zone (m)", N.COORD_PACK_DISPERSION, N.COORD_CENTROID_ZONE_DIST),
        _line("Focus fire", N.COORD_FOCUS_FIRE),
        _line("Perception", N.PERCEPTION_VISIBLE_CONTACTS, N.PERCEPTION_HOSTILE_FILTER),
        _line("Scout EWAR use", N.PERCEPTION_ECM, N.PERCEPTION_ECCM),
    ]),
    ("Distributions", [
        _media("Returns and advantages", N.DIST_RETURNS, N.DIST_ADVANTAGES),
        _media("Actions", *(N.action_hist_key(d) for d in ACTION_DIMS)),
    ]),
    ("Spatial", [
        _media("Heat maps: deaths, damage, movement", N.SPATIAL_DEATHS, N.SPATIAL_DAMAGE, N.SPATIAL_MOVEMENT),
        {"kind": "table", "title": "One match, agent by agent", "keys": [N.EPISODES_AGENT_BREAKDOWN]},
    ]),
)


def layout_keys() -> list[str]:
    """Every metric key the layout shows, in order."""
    return [k for _, panels in ROWS for p in panels for k in p["keys"]]


def build_workspace(entity: str, project: str, name: str = "Echelon") -> Any:
    """A ``wandb_workspaces.workspaces.Workspace`` with a section per row (not saved).

    Histograms have no panel type of their own in the Workspace API; their section lists them in
    a media browser and W&B draws each one over the steps when opened.
    """
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    def panel(p: Panel) -> Any:
        if p["kind"] == "line":
            return wr.LinePlot(title=p["title"], x="Step", y=list(p["keys"]))
        if p["kind"] == "media":
            return wr.MediaBrowser(title=p["title"], media_keys=list(p["keys"]), mode="gallery",
                                   gallery_axis="step")
        return wr.WeavePanelSummaryTable(table_name=p["keys"][0])

    return ws.Workspace(name=name, entity=entity, project=project,
                        sections=[ws.Section(name=title, panels=[panel(p) for p in panels], is_open=True)
                                  for title, panels in ROWS])
