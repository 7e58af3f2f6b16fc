"""dermaseg.models."""
