"""Actor-critic networks and action distributions."""
