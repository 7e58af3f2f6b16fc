"""dermaseg.data."""
