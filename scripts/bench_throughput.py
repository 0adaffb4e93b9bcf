#!/usr/bin/env python
"""Pipeline throughput of the Ray actor-learner; prints one JSON object.

Measures, for ``--workers`` rollout workers x ``--envs-per-worker`` env copies:

- ``sampling_env_steps_per_s``: the same workers sampling flat out, no learner;
- ``training_env_steps_per_s`` / ``training_agent_steps_per_s``: end-to-end training (the
  orchestrator), env steps consumed by the learner per second after ``--warmup`` updates;
- ``learner_samples_per_s``: agent steps per second of learner update time (median);
- ``pipeline_efficiency``: training / sampling-only env steps per second;
- ``fragment_bytes`` (one fragment, serialized) and ``driver_cpu_ms_per_fragment`` (the driver's
  CPU per fragment handled), for the scaling model in docs/scaling.md;
- ``learner_peak_rss_mb`` / ``learner_peak_cuda_mb``: the learner process's peak host memory and
  peak GPU allocation (``--set learner.device=cuda --set learner.amp=false`` for AMP off).

``--nodes N`` runs the same on a ``ray.cluster_utils.Cluster`` on this machine (a 1-CPU head with
the driver, learner and metrics actor; N nodes with the ``rollout`` resource).

Example: ``python scripts/bench_throughput.py --config ray_configs/smoke.yaml --workers 1 --envs-per-worker 4``
"""

import argparse
import json
import sys

from echelon.actors.bench import run_benchmark


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ray_configs/smoke.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--envs-per-worker", type=int, default=None, help="default: rollout.num_envs of the config")
    p.add_argument("--updates", type=int, default=20, help="timed training updates (after warm-up)")
    p.add_argument("--warmup", type=int, default=3, help="untimed updates / fragments per worker first")
    p.add_argument("--sample-seconds", type=float, default=15.0, help="length of the sampling-only phase")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray instance (default: all)")
    p.add_argument("--repeats", type=int, default=1, help="alternate the two phases this many times; medians")
    p.add_argument("--nodes", type=int, default=0,
                   help="run on a ray.cluster_utils.Cluster: a 1-CPU head and this many rollout nodes")
    args = p.parse_args(argv)
    result = run_benchmark(
        args.config,
        args.overrides,
        workers=args.workers,
        envs_per_worker=args.envs_per_worker,
        updates=args.updates,
        warmup=args.warmup,
        sample_seconds=args.sample_seconds,
        num_cpus=args.num_cpus,
        repeats=args.repeats,
        nodes=args.nodes,
    )
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
