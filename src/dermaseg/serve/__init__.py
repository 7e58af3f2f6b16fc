"""``dermaseg serve``: the browser app and the REST API, both on the one Predictor.

:func:`create_app` builds the FastAPI application (tests use it in-process); :func:`serve` runs it with
uvicorn. Modules: ``app`` (factory, errors, upload limit), ``api`` (routes), ``service`` (what each
route does), ``engine`` (the two Predictors, their locks, background SAM embeddings), ``store`` (the
bounded LRU of open images and their private temporary folder), ``run`` (the command), ``static/``
(the page: plain HTML, CSS and JavaScript, no build step).
"""

from __future__ import annotations

__all__: list[str] = []  # import dermaseg.serve.app.create_app / dermaseg.serve.run.serve
