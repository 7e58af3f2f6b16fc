"""dermaseg.report."""
