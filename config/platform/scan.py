"""`Unindexed(column)`: the column, read so that SQLite does not drive a query from
an index on it.

A segment's count (campaigns/segments) tests most members, so the fastest plan is to
read the member table once in rowid order and each member's card by its key. Without
range statistics (no STAT4 in Debian's SQLite) the planner often drives such a query
from an index instead: `created_at < ?` for "registered over 30 days ago" (96 % of
the members), or the store index to group by store without sorting; it then reads the
rows in that index's order, at random: 3 to 6 times slower at a million members
(docs/benchmarks.md, bench/segments.py). SQLite's unary `+` (a no-op on any value)
keeps a term from using an index; other databases get the column as it is (PostgreSQL
plans with statistics).
"""

from django.db.models import F, Func


class Unindexed(Func):
    """The column `name`, same value and type; on SQLite `+"column"` (no index use)."""

    template = "%(expressions)s"
    arity = 1

    def __init__(self, name: str, **extra):
        super().__init__(F(name), **extra)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="+%(expressions)s", **extra_context)
