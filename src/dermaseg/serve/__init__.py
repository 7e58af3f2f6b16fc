"""``dermaseg serve``: the browser app and the REST API, both on the one Predictor.

:func:`create_app` builds the FastAPI application (tests use it in-process); :func:`serve` runs it with
uvicorn. Modules: ``app`` (factory, errors, upload limit), ``api`` (routes), ``service`` (what each
route does), ``engine`` (the two Predictors, their locks, background SAM embeddings), ``store`` (the
bounded LRU of open images and their private temporary folder), ``run`` (the command), ``static/``
(the page: plain HTML, CSS and JavaScript, no build step).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):  # lazy: importing dermaseg.serve does not import FastAPI or torch
    if name == "create_app":
        from dermaseg.serve.app import create_app

        return create_app
    if name == "serve":
        from dermaseg.serve.run import serve

        return serve
    raise AttributeError(name)
