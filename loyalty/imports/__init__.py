"""Importing members and their balances from a merchant's old system (CSV or XLSX).

reading.py     decode and parse the file as a stream; find the header
columns.py     recognise columns by their header (Chinese or English synonyms)
validation.py  check and convert every cell; name each problem with its column
phones.py      phones at import speed, the same answers as members.phones
writer.py      one chunk of rows, set-based, in one transaction
purchases.py   the second file: historic purchases
runner.py      import jobs: create, queue, run (dry or real), resume
report.py      counts, first errors, and the error file in the upload's format
tasks.py       the django-q2 task
"""
