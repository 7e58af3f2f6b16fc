"""dermaseg.training."""
