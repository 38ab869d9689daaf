"""`make run`'s last set-up step (scripts/welcome.sh): the URL to open and the account lines, after
the migrations' output; on a later run (no accounts made), how to get a login again."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINE = "account: grace-staff password: pw church: grace role: staff"


def run(accounts: Path) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / "welcome.sh"), str(accounts)],
                          env={"PORT": "8123", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=30,
                          check=True)
    return done.stdout


def test_it_ends_with_the_url_and_the_accounts(tmp_path):
    accounts = tmp_path / "accounts.txt"
    accounts.write_text(f"{LINE}\naccount: admin password: pw church: - role: admin\n")
    out = run(accounts)
    assert "open http://127.0.0.1:8123/" in out
    assert out.strip().splitlines()[-2:] == [LINE, "account: admin password: pw church: - role: admin"]


def test_it_says_how_to_get_a_login_on_a_later_run(tmp_path):
    accounts = tmp_path / "accounts.txt"
    accounts.write_text("")
    out = run(accounts)
    assert "open http://127.0.0.1:8123/" in out
    assert "manage.py demo_login" in out
    assert "account:" not in out
