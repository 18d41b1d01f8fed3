"""Django's upload handlers, with one change: a temporary upload file whose write fails
(the disk filled up while the request was read) is removed at once.

Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file as the request is read.
Django's handler leaves that file, half-written, until the last reference to the failed
request's exception is gone (the error log and the worker can keep it for a while), on
the very disk that is full. This one closes it where the write failed; the file is a
NamedTemporaryFile, so closing it deletes it. The request then ends in
config/outage.py's 507 page.
"""

from contextlib import suppress

from django.core.files import uploadhandler


class TemporaryFileUploadHandler(uploadhandler.TemporaryFileUploadHandler):
    def receive_data_chunk(self, raw_data, start):
        try:
            self.file.write(raw_data)
        except OSError:
            with suppress(OSError):  # flushing what is buffered fails again: it goes anyway
                self.file.close()
            raise
