"""Running normalisers: Chan merge equals single-pass statistics; module buffers in state_dict."""

import numpy as np
import torch

from echelon.model.normalization import Moments, RunningNorm, merge_moments, moments


def test_merge_equals_single_pass():
    g = np.random.default_rng(0)
    parts = [g.normal(loc=i, scale=1 + i, size=(n, 3)) for i, n in enumerate([5, 100, 1, 37])]
    merged = Moments(0.0, np.zeros(3), np.ones(3))
    for p in parts:
        merged = merge_moments(merged, moments(p))
    full = np.concatenate(parts)
    assert merged.count == len(full)
    np.testing.assert_allclose(merged.mean, full.mean(0), rtol=1e-12)
    np.testing.assert_allclose(merged.var, full.var(0), rtol=1e-10)


def test_masked_moments_and_empty():
    x = np.arange(12.0).reshape(6, 2)
    mask = np.array([1, 0, 1, 0, 0, 1], bool)
    m = moments(x, mask)
    np.testing.assert_allclose(m.mean, x[mask].mean(0))
    assert moments(x, np.zeros(6, bool)).count == 0


def test_running_norm_module_merge_and_state_dict():
    g = np.random.default_rng(1)
    a, b = g.normal(2.0, 3.0, size=(50, 4)), g.normal(-1.0, 0.5, size=(70, 4))
    norm = RunningNorm((4,))
    norm.merge(moments(a))
    norm.merge(moments(b))
    full = np.concatenate([a, b])
    np.testing.assert_allclose(norm.mean.numpy(), full.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), full.var(0), rtol=1e-10)
    sd = norm.state_dict()
    assert set(sd) == {"count", "mean", "var"}
    other = RunningNorm((4,))
    other.load_state_dict(sd)
    x = torch.randn(3, 4)
    y = other.normalize(x)
    np.testing.assert_allclose(other.denormalize(y).numpy(), x.numpy(), rtol=1e-5, atol=1e-5)
