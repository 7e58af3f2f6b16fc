"""dermaseg.evaluation."""
