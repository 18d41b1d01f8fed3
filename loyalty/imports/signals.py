"""What an import tells the apps above loyalty (campaigns' dashboard recomputes its days).

Sent by the runner after a real run finished and committed (not a dry run), outside any
transaction, with send_robust: a receiver's failure is logged, the import stays done.
"""

from django.dispatch import Signal

# kwargs: job (the ImportJob, status DONE), counts ({"created", "updated", "unchanged",
# "errors"}) — members or purchases written, on days anywhere in the past.
import_finished = Signal()
