"""The metric-cost benchmark's pure parts: arm order and the process-tree CPU reading."""

import subprocess
import sys
import time

import pytest

from echelon.actors.bench import tree_cpu_seconds
from echelon.actors.bench_metrics import order


def test_arms_alternate_in_abba_order():
    assert order(1) == ["full", "minimal"]
    assert order(3) == ["full", "minimal", "minimal", "full", "full", "minimal"]
    assert order(4).count("full") == order(4).count("minimal") == 4


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_tree_cpu_counts_a_busy_child_process():
    before = tree_cpu_seconds()
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                              "while time.process_time() - t < 0.6: pass\ntime.sleep(30)"])
    try:
        deadline = time.monotonic() + 20
        while tree_cpu_seconds(child.pid) < 0.6 and time.monotonic() < deadline:
            time.sleep(0.1)
        # The child's 0.6 s of CPU shows in its own tree and in ours (it is our descendant).
        assert tree_cpu_seconds(child.pid) >= 0.6
        assert tree_cpu_seconds() - before >= 0.6
    finally:
        child.kill()
        child.wait()


def test_geometric_mean_and_its_bootstrap_interval():
    from echelon.actors.bench_metrics import geometric_mean_ci

    assert geometric_mean_ci([2.0, 0.5])[0] == pytest.approx(1.0)
    assert geometric_mean_ci([0.98] * 5) == pytest.approx((0.98, 0.98, 0.98))
    mean, low, high = geometric_mean_ci([0.9, 1.0, 1.1, 0.95, 1.05, 1.02])
    assert mean == pytest.approx((0.9 * 1.0 * 1.1 * 0.95 * 1.05 * 1.02) ** (1 / 6))
    assert 0.9 <= low < mean < high <= 1.1
    # Same input, same seed: the same interval (the benchmark's figures are reproducible).
    assert geometric_mean_ci([0.9, 1.1, 1.0]) == geometric_mean_ci([0.9, 1.1, 1.0])


def test_timed_window_covers_every_stride():
    from echelon.actors.bench_metrics import cover_strides
    from echelon.config import MetricsConfig

    # Defaults 10 / 5 / 50 / 25: warm up to the first heat map, then whole periods of 50.
    assert cover_strides(MetricsConfig(), 3, 30) == (50, 50)
    assert cover_strides(MetricsConfig(), 60, 120) == (60, 150)
    smoke = MetricsConfig(coordination_every=2, histogram_every=2, spatial_every=4, table_every=4)
    assert cover_strides(smoke, 3, 30) == (4, 32)
