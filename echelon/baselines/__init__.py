"""Other systems run on Echelon for comparison (``scripts/bench_vs_rllib.py``)."""
