"""Importing members and their balances from a merchant's old system (CSV or XLSX).

reading.py     decode and parse the file as a stream; find the header
columns.py     recognise columns by their header (Chinese or English synonyms)
presets.py     the member exports of other systems (Youzan, Weimob ...): their columns
matching.py    a file's tier names and count card packages to ours; totals rows
validation.py  check and convert every cell; name each problem with its column
phones.py      phones at import speed, the same answers as members.phones
writer.py      one chunk of rows, set-based, in one transaction
taken.py       the member numbers and phones already taken, for the writer
extras.py      growth value, count cards and WeChat ids of a chunk (the writer's part)
referrers.py   after the rows: inviters' phones to referrers
purchases.py   the second file: historic purchases
runner.py      import jobs: create, queue, run (dry or real), resume
report.py      counts, first errors, and the error file in the upload's format
tasks.py       the django-q2 task
disk.py        a full or unwritable disk: said in words, nothing half-written left
requeue.py     the every-minute sweep: tasks lost while the broker was down, queued again
"""
