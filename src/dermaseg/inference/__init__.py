"""dermaseg.inference."""
