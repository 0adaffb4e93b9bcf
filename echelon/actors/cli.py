"""``scripts/train_distributed.py``: argument parsing, Ray connection, one run, a summary.

``main(argv)`` is the whole command; the script only calls it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Optional, Sequence

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from echelon.checkpoint import CheckpointError, find_latest_checkpoint
from echelon.config import ConfigError, TrainConfig, config_from_dict, load_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="train_distributed.py",
        description="Train Echelon with the Ray actor-learner (or in one process with --serial).",
    )
    p.add_argument("--config", type=Path, help="YAML run config (ray_configs/*.yaml); optional with --resume")
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
    p.add_argument("--serial", action="store_true", help="one process, no Ray (echelon.ppo.serial)")
    p.add_argument("--stop-after-updates", type=int, help="stop cleanly (with a checkpoint) after this many updates")
    return p


def resolve_config(args: argparse.Namespace) -> tuple[TrainConfig, Optional[tuple]]:
    """The run config and, with ``--resume``, the checkpoint ``(path, payload, skipped)``.

    A resumed run takes the checkpoint's config (so the run continues as it started), then
    applies ``--set`` overrides (e.g. a larger ``learner.total_env_steps``).
    """
    if args.resume is None:
        if args.config is None:
            raise ConfigError("--config is required (or --resume RUN_DIR)")
        return load_config(args.config, args.overrides), None
    found = find_latest_checkpoint(args.resume)
    data = found[1].get("config")
    if not isinstance(data, dict):
        raise CheckpointError(f"checkpoint {found[0]} carries no config; cannot resume from it")
    try:
        merged = OmegaConf.merge(OmegaConf.create(data), OmegaConf.from_dotlist(list(args.overrides)))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid override: {exc}") from None
    return config_from_dict(OmegaConf.to_container(merged)), found


def default_run_dir(config: Optional[Path]) -> Path:
    stem = config.stem if config else "run"
    return Path("runs") / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"


def connect_ray(address: str) -> tuple[Any, bool]:
    """Connect to a cluster or start a local Ray; returns ``(context, started_here)``.

    ``auto``: an existing cluster when ``RAY_ADDRESS`` is set or one runs on this machine (as
    under ``ray job submit``), else a new local instance. A local instance gets the dashboard
    when its dependencies are installed, bound to 127.0.0.1 (reach it from elsewhere with an
    SSH tunnel or ``ray dashboard``); Ray's token authentication stays on.
    """
    import ray

    if address not in ("auto", "local"):
        return ray.init(address=address), False
    if address == "auto":
        try:
            return ray.init(address="auto"), False
        except ConnectionError:
            pass
    has_dashboard = all(importlib.util.find_spec(m) is not None for m in ("aiohttp", "aiohttp_cors", "prometheus_client"))
    ctx = ray.init(
        address="local",
        include_dashboard=has_dashboard,
        dashboard_host="127.0.0.1",
        configure_logging=True,
        logging_level="warning",
    )
    return ctx, True


def _print_summary(result: dict, stream: Any = sys.stdout) -> None:
    print("\n[echelon] run summary", file=stream)
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"  {key:<{width}}  {value}", file=stream)
    sys.stdout.flush()


def run_serial(cfg: TrainConfig, run_dir: Path, resume: bool) -> dict:
    from echelon.ppo.serial import train_serial

    out = train_serial(cfg, run_dir, resume=resume)
    return {
        "mode": "serial",
        "log": str(run_dir / "train_log.jsonl"),
        "checkpoints": str(run_dir / "checkpoints"),
        **{k: v for k, v in out.items() if k not in ("run_dir", "wandb")},
        "wandb": out["wandb"] or "disabled (metrics.wandb_mode=disabled)",
    }


def run_ray(cfg: TrainConfig, run_dir: Path, resume_from: Optional[tuple], address: str, stop_after: Optional[int]) -> dict:
    import ray

    from echelon.actors.orchestrator import Orchestrator
    from echelon.actors.progress import make_progress
    from echelon.metrics import names as N

    ctx, started_here = connect_ray(address)
    try:
        where = "started a local Ray instance" if started_here else f"connected to {ctx.address_info.get('gcs_address')}"
        dash = ctx.dashboard_url
        print(f"[echelon] {where}; dashboard: {'http://' + dash if dash else 'not running'}", flush=True)
        progress = make_progress(every=max(1, cfg.learner.checkpoint_every // 2))
        orch = Orchestrator(cfg, run_dir, resume_from=resume_from, stop_at_update=stop_after, progress=progress)
        res = orch.run()
    finally:
        ray.shutdown()
    last = res.last_record
    return {
        "mode": "ray",
        "stopped_by": res.stopped_by,
        "updates": res.counters["update"],
        "env_steps": res.counters["env_steps"],
        "episodes": res.counters["episodes"],
        "worker_restarts": res.counters["worker_restarts"],
        "dropped_fragments": res.counters["dropped_fragments"],
        "env_steps_per_s": round(last.get(N.PERF_SPS, 0.0), 1),
        "return_mean": last.get(N.EPISODE_RETURN_MEAN),
        "win_rate_vs_heuristic": last.get(N.EPISODE_WIN_RATE),
        "wall_s": round(res.elapsed_s, 1),
        "log": res.log_path,
        "checkpoints": str(Path(res.run_dir) / "checkpoints") + (f" (last: {Path(res.checkpoint).name})" if res.checkpoint else ""),
        "wandb": res.wandb or "disabled (metrics.wandb_mode=disabled)",
        "resume_with": f"--resume {res.run_dir}",
    }


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        cfg, resume_from = resolve_config(args)
    except (ConfigError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_dir = args.resume or args.run_dir or default_run_dir(args.config)
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"[echelon] run dir: {run_dir}", flush=True)
    if args.serial:
        if args.stop_after_updates is not None:
            print("error: --stop-after-updates applies to the Ray trainer only", file=sys.stderr)
            return 2
        summary = run_serial(cfg, run_dir, resume=args.resume is not None)
    else:
        address = args.address or cfg.ray.address
        summary = run_ray(cfg, run_dir, resume_from, address, args.stop_after_updates)
    _print_summary(summary)
    tmp = run_dir / ".summary.json.tmp"
    tmp.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    os.replace(tmp, run_dir / "summary.json")
    return 0
