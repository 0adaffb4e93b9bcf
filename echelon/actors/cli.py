"""``scripts/train_distributed.py``: argument parsing, pre-flight checks, Ray connection, one run.

``main(argv)`` is the whole command; the script only calls it. Everything that can be checked
without Ray is checked before Ray starts (config, env, run dir, resume checkpoint); a user error
is one line on stderr and exit status 2, an internal error keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib.resources
import importlib.util
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from echelon.checkpoint import CheckpointError, ResumePoint, find_latest_checkpoint
from echelon.config import RUN_LEAGUE, ConfigError, TrainConfig, config_to_dict, load_config

log = logging.getLogger("echelon")


def default_config_path() -> Path:
    """The embedded default run config (``ray_configs/local.yaml``), shipped inside the package."""
    return Path(str(importlib.resources.files("echelon") / "configs" / "local.yaml"))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_distributed.py",
        description="Train Echelon with the Ray actor-learner (or in one process with --serial).",
    )
    p.add_argument("--config", type=Path,
                   help="YAML run config (default: the embedded ray_configs/local.yaml; with --resume: the run's own)")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="dotted override, repeatable (e.g. --set ppo.lr=1e-3)",
    )
    p.add_argument("--run-dir", type=Path, help="run directory (default runs/<config>-<time>)")
    p.add_argument(
        "--address", default=None,
        help="Ray cluster: auto (RAY_ADDRESS or a running local cluster, else start one), local "
        "(always start one) or HOST:PORT; default: ray.address from the config",
    )
    p.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue RUN_DIR from its newest usable checkpoint")
    p.add_argument("--serial", action="store_true", help="one process, no Ray (echelon.actors.serial)")
    p.add_argument("--stop-after-updates", type=int, help="stop cleanly (with a checkpoint) after this many updates")
    return p


class UserError(Exception):
    """Something the user can fix; printed as one line, exit status 2."""


# Keys whose change on resume would load weights into other shapes or train on another game.
_SIGNATURE_PREFIXES = ("model.", "rollout.env", "env.packs_per_team", "env.size_x", "env.size_y", "env.obs_mode",
                       "env.blue", "env.red")


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict) -> dict[str, list]:
    """``{dotted key: [old, new]}`` for every leaf that differs between two config dicts."""
    a, b = _flatten(old), _flatten(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def unsafe_changes(changes: dict[str, list]) -> list[str]:
    """The changed keys a resume cannot take (model shapes, env signature)."""
    return [k for k in changes if k.startswith(_SIGNATURE_PREFIXES)]


@dataclass
class Plan:
    """A checked run: what ``main`` hands to the serial loop or the Ray driver."""

    cfg: TrainConfig
    run_dir: Path
    resume_from: Optional[ResumePoint]
    changed: dict


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, Optional[ResumePoint], dict]:
    """The run config, the resume point (``--resume``) and the keys changed against the checkpoint.

    A resumed run starts from its checkpoint's config (or ``--config``), then applies ``--set``;
    a change that alters model shapes or the env signature is refused, naming the keys.
    """
    if args.resume is None:
        return load_config(args.config or default_config_path(), args.overrides), None, {}
    found = find_latest_checkpoint(args.resume)
    old = config_to_dict(load_config(None, (), base=found.state.config))
    if args.config is not None:
        cfg = load_config(args.config, args.overrides)
    else:
        cfg = load_config(None, args.overrides, base=old)
    changes = config_changes(old, config_to_dict(cfg))
    bad = unsafe_changes(changes)
    if bad:
        what = ", ".join(f"{k} ({changes[k][0]} -> {changes[k][1]})" for k in bad)
        raise UserError(f"cannot resume {args.resume} with a changed {what}: it changes the model's shapes "
                        "or the game; start a new run instead")
    return cfg, found, changes


def check_env(cfg: TrainConfig) -> None:
    """Build one copy of the configured env (an unknown id fails here, not inside a Ray actor)."""
    from echelon.env.adapters import make_vector_env

    try:
        env = make_vector_env(cfg, 1, cfg.seed)
    except Exception as exc:  # gymnasium / pettingzoo raise many types for a bad id or kwargs
        raise UserError(f"rollout.env={cfg.rollout.env!r} cannot be built: {type(exc).__name__}: {exc}") from None
    env.close()


def check_league(cfg: TrainConfig, serial: bool) -> None:
    """Arena training (``league.path``): Ray only, an Echelon env with blue as the policy, and a
    league file that loads and was made for this env (docs/league.md)."""
    if not cfg.league.enabled:
        return
    if serial:
        raise UserError("league.path (arena training) needs the Ray trainer: drop --serial, or drop league.path")
    from echelon.league.arena import check_arena_config
    from echelon.league.league import League, LeagueError
    from echelon.league.signature import env_signature

    try:
        check_arena_config(cfg)
        if cfg.league.path != RUN_LEAGUE:  # the run's own league is made in the run dir (run_league)
            League.load(cfg.league.path).check_signature(env_signature(cfg), "this run's config")
    except (ValueError, LeagueError) as exc:
        raise UserError(str(exc)) from None


def run_league(cfg: TrainConfig, run_dir: Path) -> TrainConfig:
    """``league.path: run`` resolved to ``RUN_DIR/league.json`` (made at the first start); a league
    that does not fit is a :class:`UserError`. Any other config comes back unchanged."""
    from echelon.league.league import LeagueError, resolve_run_league

    try:
        return resolve_run_league(cfg, run_dir)
    except LeagueError as exc:
        raise UserError(str(exc)) from None


def check_wandb(cfg: TrainConfig) -> None:
    """``metrics.wandb_mode=online`` needs ``WANDB_API_KEY`` (``auto`` picks online only with it).

    Only the key's absence is checked here; a key W&B refuses, or no network, is found at
    ``wandb.init`` and reported once without stopping the run (``echelon.metrics.sinks.WandbSink``).
    """
    if cfg.metrics.wandb_mode == "online" and not os.environ.get("WANDB_API_KEY"):
        raise UserError("metrics.wandb_mode=online needs WANDB_API_KEY in the environment; set it, or use "
                        "metrics.wandb_mode=auto|offline (sync an offline run later with `wandb sync`)")


def check_run_dir(run_dir: Path) -> None:
    """Create the run dir and prove it writable; :class:`UserError` naming the path and the cause."""
    probe = run_dir / ".write-test"
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"run dir {str(run_dir)!r} is not writable: {exc.strerror or exc}") from None


def default_run_dir(config: Optional[Path]) -> Path:
    stem = config.stem if config else "local"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def prepare(args: argparse.Namespace) -> Plan:
    """Every check that needs no Ray; raises :class:`UserError`, ``ConfigError`` or ``CheckpointError``."""
    if args.serial and args.stop_after_updates is not None:
        raise UserError("--stop-after-updates applies to the Ray trainer only")
    cfg, resume_from, changed = resolve_config(args)
    check_league(cfg, args.serial)
    check_wandb(cfg)
    check_env(cfg)
    # Absolute: the metrics actor writes into it from another working directory.
    run_dir = Path(args.resume or args.run_dir or default_run_dir(args.config)).absolute()
    check_run_dir(run_dir)
    return Plan(run_league(cfg, run_dir), run_dir, resume_from, changed)


def ray_token_source() -> Optional[str]:
    """Where Ray would read its auth token from (env var, token file), or None when there is none."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "RAY_AUTH_TOKEN"
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if path:
        return path if Path(path).is_file() else None
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else None


TOKEN_HELP = ("put the cluster's token (run `ray get-auth-token` on its head node) in ~/.ray/auth_token, "
              "or set RAY_AUTH_TOKEN_PATH to a file holding it")


def prefer_token_auth(address: str) -> None:
    """Before Ray is imported: send the token to a ``HOST:PORT`` cluster when one is at hand.

    Ray reads ``RAY_AUTH_MODE`` once, at import, and sends its token to a cluster given by address
    only in ``token`` mode; a local cluster's token is at ~/.ray/auth_token.
    """
    if address not in ("auto", "local") and "RAY_AUTH_MODE" not in os.environ and ray_token_source():
        os.environ["RAY_AUTH_MODE"] = "token"


def _join(address: str) -> Any:
    """``ray.init(address=HOST:PORT)``; a refused or missing token is a :class:`UserError` saying
    where to put it (see :func:`prefer_token_auth`)."""
    import ray

    try:
        return ray.init(address=address, logging_level="warning")
    except (ConnectionError, RuntimeError) as exc:
        chain, cause = [], exc
        while cause is not None:
            chain.append(f"{type(cause).__name__}: {cause}")
            cause = cause.__cause__ or cause.__context__
        text = " ".join(chain)
        if "InvalidAuthToken" in text or "AuthenticationError" in text:
            where = ray_token_source()
            had = f"the token from {where} was refused" if where else "no token was found"
            raise UserError(f"cannot join the Ray cluster at {address}: {had}; {TOKEN_HELP}") from None
        raise UserError(f"cannot join the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect_ray(address: str, metrics_export_port: int = 0) -> tuple[Any, bool]:
    """Connect to a cluster or start a local Ray; returns ``(context, started_here)``.

    ``auto``: an existing cluster when ``RAY_ADDRESS`` is set or one runs on this machine (as
    under ``ray job submit``), else a new local instance. ``HOST:PORT`` joins that cluster (see
    :func:`_join` for its token). A local instance gets the dashboard when its dependencies are
    installed, bound to 127.0.0.1 (reach it from elsewhere with an SSH tunnel or
    ``ray dashboard``); Ray's token authentication stays on. Its node exports Prometheus metrics
    (the run's ``ray.util.metrics`` among them) on ``metrics_export_port`` (0: a free port, so runs
    sharing a machine do not collide); ``context.address_info["metrics_export_port"]`` names it.
    """
    import ray

    if address not in ("auto", "local"):
        return _join(address), False
    if address == "auto":
        try:
            return ray.init(address="auto"), False
        except ConnectionError:
            pass
    deps = ("aiohttp", "aiohttp_cors", "prometheus_client")
    has_dashboard = all(importlib.util.find_spec(m) is not None for m in deps)
    ctx = ray.init(
        address="local",
        include_dashboard=has_dashboard,
        dashboard_host="127.0.0.1",
        configure_logging=True,
        logging_level="warning",
        _metrics_export_port=metrics_export_port or free_port(),
    )
    return ctx, True


def dashboard_lines(ctx: Any) -> list[str]:
    """What the driver prints about the dashboard: its URL, where its token is, the metrics port.

    Ray's token authentication asks a browser for the cluster's token before showing anything;
    the line says how to get it (``ray get-auth-token``, or the file / variable Ray reads it
    from) and never prints the token itself.
    """
    dash = getattr(ctx, "dashboard_url", None)
    lines = [f"dashboard: http://{dash}" if dash else "dashboard: not running"]
    if dash and token_auth_enabled():
        where = ray_token_source() or str(Path.home() / ".ray" / "auth_token")
        source = "the RAY_AUTH_TOKEN variable" if where == "RAY_AUTH_TOKEN" else where
        lines.append(f"dashboard token: run `ray get-auth-token` (or read {source}) and paste it into the "
                     "dashboard's 'Authentication Token Required' dialog")
    port = (getattr(ctx, "address_info", None) or {}).get("metrics_export_port")
    if port:
        lines.append(f"Prometheus metrics of this node: http://127.0.0.1:{port}/metrics "
                     "(scrape it for the dashboard's Metrics tab or Grafana; docs/observability.md)")
    return lines


def token_auth_enabled() -> bool:
    """Whether this Ray session uses token authentication (Ray's default for new local clusters)."""
    try:
        from ray._raylet import AuthenticationMode, get_authentication_mode
    except ImportError:  # a Ray without token authentication
        return False
    return get_authentication_mode() == AuthenticationMode.TOKEN


def run_serial(plan: Plan) -> dict:
    from echelon.actors.serial import train_serial

    out = train_serial(plan.cfg, plan.run_dir, resume_from=plan.resume_from, changed=plan.changed)
    return {
        "mode": "serial",
        "log": str(plan.run_dir / "train_log.jsonl"),
        "checkpoints": str(plan.run_dir / "checkpoints"),
        **{k: v for k, v in out.items() if k not in ("run_dir", "wandb")},
        "wandb": out["wandb"] or wandb_off(plan.cfg),
    }


def wandb_off(cfg: TrainConfig) -> str:
    """The summary's W&B line when there is no W&B run to name."""
    if cfg.metrics.wandb_mode == "disabled":
        return "disabled (metrics.wandb_mode=disabled)"
    return "off: W&B failed (see the warning above); the JSONL log is complete"


def run_ray(plan: Plan, address: str, stop_after: Optional[int]) -> dict:
    prefer_token_auth(address)
    import ray

    from echelon.actors.orchestrator import Orchestrator
    from echelon.actors.progress import make_progress
    from echelon.metrics import names as N

    cfg = plan.cfg
    ctx, started_here = connect_ray(address, cfg.metrics.export_port)
    try:
        gcs = ctx.address_info.get("gcs_address")
        where = "started a local Ray instance" if started_here else f"connected to {gcs}"
        dash, *more = dashboard_lines(ctx)
        log.info("%s; %s", where, dash)
        for line in more:
            log.info("%s", line)
        progress = make_progress(every=max(1, cfg.learner.checkpoint_every // 2))
        orch = Orchestrator(cfg, plan.run_dir, resume_from=plan.resume_from, stop_at_update=stop_after,
                            progress=progress, resume_changes=plan.changed)
        res = orch.run()
    finally:
        ray.shutdown()
    last = res.last_record
    arena = {}
    if cfg.league.enabled:
        # In the arena the window mixes opponents: the heuristic's share is its own key, and the
        # learner's newest snapshot has a rating on the heuristic's scale.
        win_vs_heuristic = last.get(N.LEAGUE_WIN_RATE_HEURISTIC)
        if last.get(N.LEAGUE_RATING) is not None:
            arena["league_rating"] = f"{last[N.LEAGUE_RATING]:.0f} (RD {last.get(N.LEAGUE_RD, 0.0):.0f})"
        arena["league"] = str(cfg.league.path)
    else:
        win_vs_heuristic = last.get(N.RETURNS_WIN_RATE)
    return {
        "mode": "ray",
        "stopped_by": res.stopped_by,
        "updates": res.counters["update"],
        "env_steps": res.counters["env_steps"],
        "episodes": res.counters["episodes"],
        "worker_restarts": res.counters["worker_restarts"],
        "dropped_fragments": res.counters["dropped_fragments"],
        "env_steps_per_s": round(last.get(N.TRAIN_SPS, 0.0), 1),
        "return_mean": last.get(N.RETURNS_MEAN),
        "win_rate_vs_heuristic": win_vs_heuristic,
        **arena,
        "wall_s": round(res.elapsed_s, 1),
        "log": res.log_path,
        "checkpoints": str(Path(res.run_dir) / "checkpoints")
        + (f" (last: {Path(res.checkpoint).name})" if res.checkpoint else ""),
        "wandb": res.wandb or wandb_off(cfg),
        "resume_with": f"--resume {res.run_dir}",
    }


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def inspect_log(run_dir: Path) -> dict[str, str]:
    """Validate the run's log and plot it to ``train.png`` beside it (summary lines of a run)."""
    from echelon.metrics.plots import plot_logs
    from echelon.metrics.validate import validate_log

    log_path = run_dir / "train_log.jsonl"
    result = validate_log(log_path)
    out = {"log_check": "valid" if result.ok else f"{len(result.errors)} defects: {result.errors[0]}"}
    try:
        plot, _ = plot_logs([log_path], run_dir / "train.png")
        out["plot"] = str(plot)
    except ValueError as exc:  # nothing to plot yet (no update record)
        out["plot"] = f"none ({exc})"
    return out


def setup_logging() -> None:
    """Operational events of the ``echelon`` loggers go to stderr as ``[echelon] message`` lines."""
    root = logging.getLogger("echelon")
    if not any(isinstance(h, _StderrHandler) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("[echelon] %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)


def _print_summary(result: dict, stream: Any = sys.stdout) -> None:
    print("\n[echelon] run summary", file=stream)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}", file=stream)
    stream.flush()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        plan = prepare(args)
    except (UserError, ConfigError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"[echelon] run dir: {plan.run_dir}", flush=True)
    try:
        if args.serial:
            summary = run_serial(plan)
        else:
            summary = run_ray(plan, args.address or plan.cfg.ray.address, args.stop_after_updates)
    except (UserError, CheckpointError) as exc:  # cannot join a cluster; a checkpoint cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary.update(inspect_log(plan.run_dir))
    _print_summary(summary)
    tmp = plan.run_dir / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, plan.run_dir / "summary.json")
    return 0
