"""The hand-written performance layer: fixed SQL for hot reads and writes, bulk writes,
migration operations, the SQLite backend, the session stores and the Jinja environment.
Each piece stands in for a stock Django, ORM or Jinja path where a benchmark showed the
need, is pinned by a test against that stock behaviour, and imports no app; what each
replaces, which private APIs it touches, its tests and what it bought: README.md here.
"""
