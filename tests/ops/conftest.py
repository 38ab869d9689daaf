"""Fixtures for the multi-process operations tests (tests/ops/procs.py starts the processes)."""

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.ops import procs


@pytest.fixture(scope="session")
def migrated_sqlite() -> Path:
    """One migrated SQLite database with alice and dana, made once per run and copied per test."""
    var_dir = Path(tempfile.mkdtemp(prefix="flock-ops-template-"))
    db = var_dir / "flock.sqlite3"
    procs.prepare_database(procs.base_env(FLOCK_VAR_DIR=str(var_dir), DATABASE_URL=f"sqlite:///{db}"))
    return db


@pytest.fixture
def app_env(migrated_sqlite, tmp_path) -> dict[str, str]:
    """A child environment on a private copy of that database, with its own var/ directory."""
    db = tmp_path / "flock.sqlite3"
    shutil.copy(migrated_sqlite, db)
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    return procs.base_env(
        FLOCK_VAR_DIR=str(var_dir),
        DATABASE_URL=f"sqlite:///{db}",
        DJANGO_SECRET_KEY="ops-test-secret-key-shared-by-every-app-host-0123456789",
    )
