"""The member search's trigram index, inside the church (PostgreSQL only).

member_church_search_trgm: GIN (church_id, UPPER(first_name || ' ' || last_name || ' ' || email)
gin_trgm_ops), the expression members.selectors.MemberSearchText compares with every search word.

- church_id first (btree_gin gives GIN an operator class for it): the index scan returns the
  matches of one church only. The three per-column indices of 0002 returned the matches of all
  201 churches, and the table was then read for every one of them to check the church: for
  "steve" in the 100,000-member church, 9,925 rows read to keep 908.
- one expression instead of three columns: one index scan per word instead of a BitmapOr of
  three, and one index instead of three (78 MB instead of 143 MB at 1.1M members).
- fastupdate off: with the default, new entries wait in a pending list that every search reads
  in full until VACUUM merges it (autovacuum may be off): 3,000 new members made the index
  scan of "steve" 3.3 ms instead of 1.1 ms. The price is paid on writes (3,000 inserts: 0.18 ms
  a member, against 0.05 ms with 0002's three indices), and members are written far less often
  than searched.

The church must be compared as a bigint for the index to use it (btree_gin's int8 class has no
bigint = integer): members.selectors.member_search_qs casts it.

Replaces member_{first_name,last_name,email}_trgm of 0002, dropped here: no query compares
UPPER(column) on its own any more (the admin's member search ORs in the unindexed phone, so it
never used them). The new index is built before the old ones are dropped, so the search always
has an index. Like 0002 this lives outside the model state (RunSQL: SQLite has no GIN) and runs
CONCURRENTLY on PostgreSQL (no lock that blocks writes while 1.1M rows are indexed), hence
`atomic = False`; on SQLite every step is a no-op. Reversible: going back recreates the three
per-column indices, then drops the new one and btree_gin.
"""

from django.db import migrations

from members.migration_operations import BtreeGinExtensionOnPostgres, RunSQLOnPostgres

SEARCH_TEXT = """UPPER(("first_name" || ' ' || "last_name" || ' ' || "email")::text)"""
OLD_TRIGRAM_COLUMNS = ("first_name", "last_name", "email")


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("members", "0003_member_tallies"),
    ]

    operations = [
        BtreeGinExtensionOnPostgres(),
        RunSQLOnPostgres(
            sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "member_church_search_trgm" ON "members_member" '
                f'USING gin ("church_id", ({SEARCH_TEXT}) gin_trgm_ops) WITH (fastupdate = off)',
            reverse_sql='DROP INDEX CONCURRENTLY IF EXISTS "member_church_search_trgm"',
        ),
        *(
            RunSQLOnPostgres(
                sql=f'DROP INDEX CONCURRENTLY IF EXISTS "member_{column}_trgm"',
                reverse_sql=f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "member_{column}_trgm" ON "members_member" '
                            f'USING gin ((UPPER("{column}"::text)) gin_trgm_ops)',
            )
            for column in OLD_TRIGRAM_COLUMNS
        ),
    ]
