"""dermaseg.models.sam."""
