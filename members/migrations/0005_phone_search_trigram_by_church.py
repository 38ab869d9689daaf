"""The phone search's trigram index, inside the church (PostgreSQL only).

member_church_phone_trgm: GIN (church_id, phone gin_trgm_ops), what a phone-like search
("555 12", "+1 (415) 23") compares: `phone LIKE '%<digits>%'` (members.selectors.member_search_filter;
phones are stored in E.164, so the digits staff type are a substring of the stored number).

Without it every such search tested every member of the church: 34.6 ms in PostgreSQL for
"555 12" in the 100,000-member church at 1.1M members (a bitmap of the church's 100,000 rows
from member_church_search_trgm, then 99,993 removed by the filter); with it 1.6 ms (9 rows
read), 38 ms -> 4.3 ms through the ORM. A word of a name search with three digits or more
("steve 415") also ORs this condition in. 34 MB at 1.1M members, built in 9 s.

As in 0004: church_id first through btree_gin (one church's matches only), fastupdate off (a
search never reads a pending list), CONCURRENTLY (no lock that blocks writes while it is built),
hence `atomic = False`; a no-op on SQLite; reversible.
"""

from django.db import migrations

from members.migration_operations import RunSQLOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("members", "0004_search_trigram_by_church"),
    ]

    operations = [
        RunSQLOnPostgres(
            sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS "member_church_phone_trgm" ON "members_member" '
                'USING gin ("church_id", "phone" gin_trgm_ops) WITH (fastupdate = off)',
            reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "member_church_phone_trgm"',
        ),
    ]
