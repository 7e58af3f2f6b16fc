"""dermaseg.serve."""
