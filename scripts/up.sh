#!/usr/bin/env bash
# Install the project into .venv and run its main job (onemap up): build the demo city on first run,
# validate it and print its figures. Arguments are passed to `onemap up`.
source "$(dirname "$0")/_venv.sh"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/onemap up "$@"
