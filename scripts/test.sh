#!/usr/bin/env bash
# Install what the tests need (Python packages into .venv, Debian packages when missing) and run the
# whole suite: ruff, then pytest. Arguments are passed to pytest.
source "$(dirname "$0")/_venv.sh"
# Debian packages the suite needs: PostgreSQL + PostGIS for the store tests (each session starts its own
# throwaway server), Chromium for the browser tests and the briefing export (kaleido), CJK fonts.
APT_PACKAGES=(postgresql postgresql-15-postgis-3 chromium chromium-driver fonts-noto-cjk)
[ ${#APT_PACKAGES[@]} -eq 0 ] || apt_install "${APT_PACKAGES[@]}"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest -q "$@"
