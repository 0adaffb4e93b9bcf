"""Visual tools: watch what a checkpoint does (GIFs of matches)."""
