"""Test-run fixtures. The run's private var/ directory and cache key prefix are set earlier,
in tests/runenv.py, before the settings are read.

Clearing the cache between tests must never touch anything else in the Redis database
(sessions of a running app, say): keys are removed by this run's prefix only.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    on_redis = bool(settings.REDIS_URL)
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="PostgreSQL pass only (DATABASE_URL unset)"))
        if "redis" in item.keywords and not on_redis:
            item.add_marker(pytest.mark.skip(reason="Redis pass only (REDIS_URL unset)"))


@pytest.fixture(autouse=True)
def _clean_caches():
    from tests.base import clear_caches

    clear_caches()
    yield


@pytest.fixture(autouse=True, scope="session")
def _static_without_manifest():
    """Pages render `{% static %}` in tests without a collectstatic run (no manifest to read)."""
    from django.conf import settings
    from django.test import override_settings

    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    with override_settings(STORAGES=storages):
        yield
