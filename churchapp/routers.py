"""The database router, installed only when DATABASE_REPLICA_URL is set (settings.py).

Reads go where `replica.reads` says: the primary (`default`), except inside one of the named
lag-tolerant reads whose replica has caught up. Writes, migrations and everything else: the
primary. An object loaded from the replica is written to, and its relations read from, the
primary (Django's default would follow the object to the database it came from).
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from replica import reads


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        return reads.current_alias()

    def db_for_write(self, model, **hints) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # The replica is a copy of the primary: an object from either may point at one from the other.
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool:
        # A physical replica receives the schema through replication; it is never migrated.
        return db == DEFAULT_DB_ALIAS
