"""Loaded as a plugin (`-p tests.runenv` in pytest.ini) so that it runs before pytest-django
imports the settings: a private var/ directory and cache key prefix for each test run.

(Set from tests/conftest.py alone, they came too late: settings were already read, and
every run shared /work/main/var and its embedded cache, clearing each other's entries.)
"""

import os
import tempfile

os.environ.setdefault("FLOCK_VAR_DIR", tempfile.mkdtemp(prefix="flock-test-"))
# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collect static.
os.makedirs(os.path.join(os.environ["FLOCK_VAR_DIR"], "staticfiles"), exist_ok=True)
os.environ["CACHE_KEY_PREFIX"] = f"flocktest{os.getpid()}"
os.environ.setdefault("CACHE_ASIDE", "on")
