"""Watch a checkpoint play: one Echelon match → ``rollout.gif``, ``rollout.jsonl``, ``meta.json``.

Blue is driven by the checkpoint's policy, red by the env's heuristic or by a second
checkpoint. Each policy keeps its own LSTM state over its team's agents, starting from zeros
with ``episode_start`` set on the first step, exactly as the rollout collector runs it, and
normalises observations with the statistics stored in its checkpoint. Frames are drawn by
:meth:`echelon.env.parallel_env.EchelonParallelEnv.render` (terrain, zone, smoke, shots, mechs by
team and class) with a caption strip on top: step, time, zone score, alive counts, and at the
end the winner.

``rollout.jsonl`` holds one line per env step: every live agent's action (env units), reward
and reward components, the value estimate, which mechs are alive, zone control and the step's
events; the last line adds the match outcome. Non-finite numbers are written as in the run log
(:func:`echelon.metrics.schema.dumps`).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from echelon.config import EnvConfig, config_to_dict, load_config
from echelon.env import specs
from echelon.env.parallel_env import TEAM_NAMES, EchelonParallelEnv
from echelon.env.render import CLASS_ROTATION, CLASS_SIDES, TEAM_RGB
from echelon.env.sim import EVENT_KINDS
from echelon.metrics import schema
from echelon.model.distributions import to_env_action
from echelon.model.loading import LoadedPolicy, PolicyLoadError, check_policy_fits, load_policy

HEURISTIC = "heuristic"
CAPTION_H = 58  # pixels of the caption strip above each frame
_TARGET_PX = 480  # frames are scaled so the longer map side is about this many pixels


@dataclass(frozen=True)
class GifResult:
    """What :func:`dump_policy_gif` wrote: the three files, frames drawn and env steps played."""

    gif: Path
    jsonl: Path
    meta: Path
    frames: int
    steps: int
    outcome: Optional[dict[str, Any]]


@dataclass
class _Side:
    """One team driven by a policy: its agents' rows and its recurrent state."""

    loaded: LoadedPolicy
    rows: np.ndarray  # [n] indices into possible_agents
    state: Any = None
    episode_start: Optional[torch.Tensor] = None

    def reset(self) -> None:
        self.state = self.loaded.policy.initial_state(len(self.rows))
        self.episode_start = torch.ones(len(self.rows), dtype=torch.bool)

    @torch.no_grad()
    def act(self, obs: np.ndarray, greedy: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``obs [A, D]`` (all agents) → env actions ``{key: [n, ...]}`` and values ``[n]`` (return units)."""
        policy = self.loaded.policy
        x = torch.from_numpy(np.ascontiguousarray(obs[self.rows], dtype=np.float32))
        action, _, value, self.state = policy.act(x, self.state, self.episode_start, deterministic=greedy)
        self.episode_start = torch.zeros(len(self.rows), dtype=torch.bool)
        return to_env_action(policy.actor.space, action), policy.denormalize_value(value).numpy()


def default_out_dir(checkpoint: str | Path, seed: int) -> Path:
    """``RUN_DIR/rollouts/<checkpoint stem>_seed<seed>`` for ``RUN_DIR/checkpoints/<ckpt>.pt``."""
    path = Path(checkpoint)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return run_dir / "rollouts" / f"{path.stem}_seed{seed}"


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _mech_names(env: EchelonParallelEnv) -> list[str]:
    sim, T = env.vec.sim, env.cfg.mechs_per_team
    return [f"{TEAM_NAMES[sim.team[m]]}_{m - sim.team[m] * T}" for m in range(sim.M)]


def _weapon_name(w: int) -> Optional[str]:
    return specs.WEAPON_NAMES[w] if 0 <= w < len(specs.WEAPON_NAMES) else None  # -1: hazard or none


def _events(events: np.ndarray, names: Sequence[str]) -> list[dict[str, Any]]:
    def who(i: int) -> Optional[str]:
        return names[i] if 0 <= i < len(names) else None

    return [
        {
            "kind": EVENT_KINDS[int(ev["kind"])],
            "weapon": _weapon_name(int(ev["weapon"])),
            "shooter": who(int(ev["shooter"])),
            "target": who(int(ev["target"])),
            "x": float(ev["x"]),
            "y": float(ev["y"]),
            "damage": float(ev["damage"]),
        }
        for ev in events
        if int(ev["env"]) == 0
    ]


class _Caption:
    """Draws the caption strip above a frame: two status lines and a legend line (team colours,
    and the polygon each class is drawn with, as on the map)."""

    def __init__(self) -> None:
        self.font = _font(13)

    def draw(self, frame: np.ndarray, line1: str, line2: str) -> Image.Image:
        img = Image.new("RGB", (frame.shape[1], frame.shape[0] + CAPTION_H), (24, 24, 28))
        img.paste(Image.fromarray(frame), (0, CAPTION_H))
        draw = ImageDraw.Draw(img)
        draw.text((6, 3), line1, fill=(240, 240, 240), font=self.font)
        draw.text((6, 21), line2, fill=(215, 215, 215), font=self.font)
        x, y = 6, 39
        for team, rgb in zip(TEAM_NAMES, TEAM_RGB, strict=True):
            draw.rectangle((x, y + 3, x + 10, y + 13), fill=rgb)
            draw.text((x + 14, y), team, fill=(200, 200, 200), font=self.font)
            x += 20 + int(draw.textlength(team, font=self.font))
        x += 8
        for cls, label in enumerate(specs.CLASS_NAMES):
            shape = (x + 6, y + 8, 6)
            draw.regular_polygon(shape, CLASS_SIDES[cls], rotation=CLASS_ROTATION[cls], fill=(170, 170, 170))
            draw.text((x + 15, y), label, fill=(200, 200, 200), font=self.font)
            x += 24 + int(draw.textlength(label, font=self.font))
        return img


def _env_config(loaded: LoadedPolicy, config: Optional[str | Path], two_policies: bool) -> EnvConfig:
    env_cfg = load_config(config).env if config is not None else loaded.cfg.env
    # Blue is the checkpoint; red the heuristic or the second checkpoint.
    return dataclasses.replace(env_cfg, blue="policy", red="policy" if two_policies else HEURISTIC)


def dump_policy_gif(
    checkpoint: str | Path,
    out_dir: Optional[str | Path] = None,
    config: Optional[str | Path] = None,
    opponent: str = HEURISTIC,
    seed: int = 0,
    steps: Optional[int] = None,
    greedy: bool = False,
    fps: float = 8.0,
    command: Optional[Sequence[str]] = None,
) -> GifResult:
    """Play one match with ``checkpoint`` as blue and write the GIF, the step log and ``meta.json``.

    Args:
        checkpoint: the checkpoint file driving blue.
        out_dir: where to write (default :func:`default_out_dir`).
        config: a run config YAML whose ``env`` section sets the match (default: the checkpoint's).
        opponent: ``"heuristic"`` (the env's bot) or a second checkpoint file driving red.
        seed: match seed (map, spawns) and the seed of action sampling.
        steps: stop after this many env steps (default: play until the match ends).
        greedy: take each distribution's mode instead of sampling.
        fps: GIF frames per second (one frame per env step, plus the start frame).
        command: the command line, recorded in ``meta.json``.

    Raises :class:`~echelon.model.loading.PolicyLoadError` when a checkpoint cannot be loaded or
    does not fit the env.
    """
    # One match is tiny for torch: on a shared machine several intra-op threads only contend
    # (3x slower on 2 busy cores), so act with one and give the caller its setting back.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _dump(checkpoint, out_dir, config, opponent, seed, steps, greedy, fps, command)
    finally:
        torch.set_num_threads(threads)


def _dump(
    checkpoint: str | Path,
    out_dir: Optional[str | Path],
    config: Optional[str | Path],
    opponent: str,
    seed: int,
    steps: Optional[int],
    greedy: bool,
    fps: float,
    command: Optional[Sequence[str]],
) -> GifResult:
    blue = load_policy(checkpoint)
    red = None if opponent == HEURISTIC else load_policy(opponent)
    for who, loaded in (("checkpoint", blue), ("opponent", red)):
        if loaded is not None and loaded.cfg.rollout.env != "echelon":
            trained_on = loaded.cfg.rollout.env
            raise PolicyLoadError(f"{who} {loaded.info['path']!r} was trained on {trained_on!r}, not Echelon")
    env_cfg = _env_config(blue, config, red is not None)
    out = Path(out_dir) if out_dir is not None else default_out_dir(checkpoint, seed)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "rollout.jsonl", "w", encoding="utf-8") as fh:
        player, frames = _play(blue, red, env_cfg, seed, steps, greedy, fh)
    _save_gif(frames, out / "rollout.gif", fps)
    meta = _meta(checkpoint, blue, red, opponent, config, env_cfg, seed, greedy, fps, player, len(frames), command)
    (out / "meta.json").write_text(json.dumps(schema.encode_nonfinite(meta), indent=1, default=str) + "\n")
    return GifResult(out / "rollout.gif", out / "rollout.jsonl", out / "meta.json", len(frames), player.t,
                     player.outcome)


def match_gif(blue: LoadedPolicy, env_cfg: EnvConfig, path: str | Path, seed: int = 0, greedy: bool = False,
              fps: float = 8.0, red: Optional[LoadedPolicy] = None) -> tuple[int, int, Optional[dict[str, Any]]]:
    """Play one match of ``env_cfg`` with ``blue`` (and ``red``, or the env's heuristic) to its end and
    write only the GIF to ``path`` (atomically); returns ``(frames, steps, outcome)``.

    The match is the one-match env reset with ``seed``: match 0 of an evaluation with that seed
    (``EchelonVecEnv`` seeds slot 0 from ``(seed, 0)``), so with greedy play it is that match.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # see dump_policy_gif
    try:
        cfg = dataclasses.replace(env_cfg, blue="policy", red="policy" if red is not None else HEURISTIC)
        player, frames = _play(blue, red, cfg, seed, None, greedy, None)
    finally:
        torch.set_num_threads(threads)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.gif")
    _save_gif(frames, tmp, fps)
    tmp.replace(path)
    return len(frames), player.t, player.outcome


def _play(blue: LoadedPolicy, red: Optional[LoadedPolicy], env_cfg: EnvConfig, seed: int, steps: Optional[int],
          greedy: bool, jsonl: Any) -> tuple["_Player", list[Image.Image]]:
    """Play the match (``steps`` at most), a captioned frame per step; step records go to ``jsonl`` when given."""
    scale = max(2, _TARGET_PX // max(env_cfg.size_x, env_cfg.size_y))
    env = EchelonParallelEnv(env_cfg, render_mode="rgb_array", render_scale=scale)
    agents = env.possible_agents
    sides = [_Side(blue, np.array([i for i, a in enumerate(agents) if a.startswith("blue_")]))]
    if red is not None:
        sides.append(_Side(red, np.array([i for i, a in enumerate(agents) if a.startswith("red_")])))
    for side, who in zip(sides, ("checkpoint", "opponent"), strict=False):
        check_policy_fits(side.loaded.policy, env.observation_space(agents[0]), env.action_space(agents[0]), who)
        side.reset()
    torch.manual_seed(seed)
    obs_dict, _ = env.reset(seed=seed)
    obs = np.zeros((len(agents), env.observation_space(agents[0]).shape[0]), np.float32)
    player = _Player(env, obs, sides, greedy)
    player.update_obs(obs_dict)
    frames = [player.frame()]
    limit = env_cfg.max_steps if steps is None else min(int(steps), env_cfg.max_steps)
    while player.t < limit and env.agents:
        record = player.step()
        if jsonl is not None:
            jsonl.write(schema.dumps(record) + "\n")
        frames.append(player.frame())
    env.close()
    return player, frames


def _save_gif(frames: list[Image.Image], path: Path, fps: float) -> None:
    duration_ms = int(round(1000.0 / fps))
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0)


class _Player:
    """Steps the match: actions from each side's policy, one step record, one captioned frame."""

    def __init__(self, env: EchelonParallelEnv, obs: np.ndarray, sides: list[_Side], greedy: bool) -> None:
        self.env, self.obs, self.sides, self.greedy = env, obs, sides, greedy
        self.agents = env.possible_agents
        self.row = {a: i for i, a in enumerate(self.agents)}
        self.names = _mech_names(env)
        self.t = 0
        self.outcome: Optional[dict[str, Any]] = None
        self.caption = _Caption()

    def update_obs(self, obs_dict: dict[str, np.ndarray]) -> None:
        # Agents that left keep their last observation; their rows are not acted on.
        for name, o in obs_dict.items():
            self.obs[self.row[name]] = o

    def step(self) -> dict[str, Any]:
        """One env step; returns the step record for ``rollout.jsonl``."""
        live = set(self.env.agents)
        actions: dict[str, dict[str, np.ndarray]] = {}
        values: dict[str, float] = {}
        for side in self.sides:
            act, value = side.act(self.obs, self.greedy)
            for j, r in enumerate(side.rows):
                name = self.agents[r]
                if name in live:
                    actions[name] = {k: v[j] for k, v in act.items()}
                    values[name] = float(value[j])
        obs_dict, rewards, terms, truncs, infos = self.env.step(actions)
        self.update_obs(obs_dict)
        self.t += 1
        sim = self.env.vec.sim
        ended = not self.env.agents
        record: dict[str, Any] = {
            "step": self.t,
            "actions": {a: {k: np.asarray(v).tolist() for k, v in act.items()} for a, act in actions.items()},
            "values": values,
            "rewards": rewards,
            "reward_components": {a: info["reward_components"] for a, info in infos.items()},
            "terminated": {a: v for a, v in terms.items() if v},
            "truncated": {a: v for a, v in truncs.items() if v},
            "alive": dict(zip(self.names, self._alive().tolist(), strict=True)),
            "zone": self._zone(sim, ended, infos),
            "events": _events(self.env.vec.last_events, self.names),
        }
        if ended:
            self.outcome = next(iter(infos.values()))["outcome"] if infos else None
            record["outcome"] = self.outcome
        return record

    def _alive(self) -> np.ndarray:
        final = self.env.vec.final_state.get(0) if not self.env.agents else None
        return (final["alive"] if final is not None else self.env.vec.sim.alive[0]).astype(bool)

    def _zone(self, sim: Any, ended: bool, infos: dict[str, Any]) -> dict[str, Any]:
        # The vec env resets an ended match at once: its final zone score is in the outcome.
        if ended and infos:
            outcome = next(iter(infos.values()))["outcome"]
            score = (outcome["zone_score_blue"], outcome["zone_score_red"])
        else:
            score = (float(sim.score[0, 0]), float(sim.score[0, 1]))
        # Inside the zone as the zone phase counts it: alive, within zone_radius of the centre.
        pos, centre = sim.pos[0], sim.zone_center[0]
        in_zone = (np.hypot(pos[:, 0] - centre[0], pos[:, 1] - centre[1]) <= sim.zone_radius[0]) & self._alive()
        return {
            "score_blue": score[0],
            "score_red": score[1],
            "win_score": float(sim.win_score),
            "ticks_blue": float(sim.zone_ticks[0, 0]),
            "ticks_red": float(sim.zone_ticks[0, 1]),
            "in_zone_blue": int((in_zone & (sim.team == 0)).sum()),
            "in_zone_red": int((in_zone & (sim.team == 1)).sum()),
        }

    def frame(self) -> Image.Image:
        """The current frame with its caption (step, time, zone score, alive counts, winner)."""
        env, sim = self.env, self.env.vec.sim
        alive = self._alive()
        per_team = env.cfg.mechs_per_team
        n_blue, n_red = int(alive[sim.team == 0].sum()), int(alive[sim.team == 1].sum())
        if self.outcome is not None:
            score = (self.outcome["zone_score_blue"], self.outcome["zone_score_red"])
        else:
            score = (float(sim.score[0, 0]), float(sim.score[0, 1]))
        seconds = self.t * env.cfg.step_seconds
        line1 = (f"step {self.t}/{env.cfg.max_steps}  t={seconds:4.1f} s   zone blue {score[0]:.1f} s, "
                 f"red {score[1]:.1f} s (win {sim.win_score:.0f} s)")
        line2 = f"alive blue {n_blue}/{per_team}, red {n_red}/{per_team}"
        if self.outcome is not None:
            line2 += f"   winner: {self.outcome['winner']} ({self.outcome['reason']})"
        return self.caption.draw(env.render(), line1, line2)


def _meta(
    checkpoint: str | Path,
    blue: LoadedPolicy,
    red: Optional[LoadedPolicy],
    opponent: str,
    config: Optional[str | Path],
    env_cfg: EnvConfig,
    seed: int,
    greedy: bool,
    fps: float,
    player: _Player,
    frames: int,
    command: Optional[Sequence[str]],
) -> dict[str, Any]:
    from echelon.metrics.records import run_provenance

    outcome = player.outcome or {}
    return {
        "checkpoint": {**blue.info, "config": config_to_dict(blue.cfg)},
        "opponent": HEURISTIC if red is None else {**red.info, "config": config_to_dict(red.cfg)},
        "opponent_arg": opponent,
        "config_path": None if config is None else str(config),
        "env": dataclasses.asdict(env_cfg),
        "seed": seed,
        "greedy": greedy,
        "fps": fps,
        "steps": player.t,
        "frames": frames,
        "match_ended": player.outcome is not None,
        "outcome": {k: outcome.get(k) for k in ("winner", "reason", "length", "zone_score_blue", "zone_score_red",
                                                 "hp_blue", "hp_red")} if outcome else None,
        "team_colours": {"blue": TEAM_RGB[0], "red": TEAM_RGB[1]},
        "command": list(command) if command is not None else None,
        **run_provenance(),
    }
