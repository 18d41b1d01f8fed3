"""The import in the admin: upload -> columns -> dry run -> confirm, the progress bar,
the error file, the history; the Import button on the member list; who may."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty.imports import runner
from loyalty.models import ImportJob
from members.models import AuditEntry, Member
from tests.loyalty.import_files import HEADERS_ZH, phone

pytestmark = pytest.mark.django_db

ADD = reverse("admin:loyalty_importjob_add")


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _upload(client, rows, name="会员.csv", **extra):
    text = "\r\n".join(",".join(r) for r in [HEADERS_ZH, *rows]) + "\r\n"
    upload = SimpleUploadedFile(name, text.encode("gbk"), content_type="text/csv")
    return client.post(ADD, {"file": upload, "kind": "members", **extra})


def _page(job):
    return reverse("admin:loyalty_importjob_change", args=[job.pk])


def _run(job):
    return reverse("admin:loyalty_importjob_run", args=[job.pk])


def _mapping(job):
    return {f"col_{i}": key for i, key in job.mapping.items()}


ROWS = [
    [phone(1), "张三", "男", "1990-01-02", "500", "银卡", "88", "", "常客", "SH01"],
    [phone(2), "李四", "女", "", "", "", "", "", "", ""],
    ["123", "坏号", "", "", "", "", "", "", "", ""],
]


def test_it_walks_from_upload_to_import(owner_client, store, django_capture_on_commit_callbacks):
    assert owner_client.get(ADD).status_code == 200
    response = _upload(owner_client, ROWS, store=store.pk)
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == _page(job)
    assert job.status == ImportJob.Status.UPLOADED and job.store == store
    assert job.mapping["0"] == "phone" and job.mapping["9"] == "store"
    page = owner_client.get(_page(job))
    assert page.status_code == 200 and "col_0" in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(_run(job), {"run": "dry", **_mapping(job)})
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert {k: job.preview[k] for k in ("created", "updated", "unchanged", "errors")} == {
        "created": 2, "updated": 0, "unchanged": 0, "errors": 1,
    }  # fmt: skip
    assert not Member.objects.exists()
    page = owner_client.get(_page(job)).content.decode()
    assert "123" in page and 'value="import"' in page

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(_run(job), {"run": "import"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and job.counts() == {
        "created": 2, "updated": 0, "unchanged": 0, "errors": 1,
    }  # fmt: skip
    assert Member.objects.count() == 2
    errors = owner_client.get(reverse("admin:loyalty_importjob_errors", args=[job.pk]))
    assert errors.status_code == 200 and "attachment" in errors["Content-Disposition"]
    assert "坏号" in b"".join(errors.streaming_content).decode("gb18030")
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"import.upload", "import.preview", "import.run"} <= actions
    history = owner_client.get(reverse("admin:loyalty_importjob_changelist"))
    assert history.status_code == 200 and "会员.csv" in history.content.decode()


def test_the_progress_bar_polls_while_running_and_reloads_when_done(owner_client, store):
    _upload(owner_client, ROWS)
    job = ImportJob.objects.get()
    url = reverse("admin:loyalty_importjob_progress", args=[job.pk])
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, rows_total=1000, rows_done=250
    )
    running = owner_client.get(url, HTTP_HX_REQUEST="true")
    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert 'value="25"' in running.content.decode() and "HX-Refresh" not in running
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE, rows_done=1000)
    done = owner_client.get(url, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true" and "hx-trigger" not in done.content.decode()


def test_a_mapping_without_a_phone_column_is_a_form_error(owner_client, store):
    _upload(owner_client, ROWS)
    job = ImportJob.objects.get()
    mapping = {**_mapping(job), "col_0": ""}
    response = owner_client.post(_run(job), {"run": "dry", **mapping})
    assert response.status_code == 200 and response.context["form"].errors
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_one_field_for_two_columns_is_a_form_error(owner_client, store):
    _upload(owner_client, ROWS)
    job = ImportJob.objects.get()
    mapping = {**_mapping(job), "col_1": "phone"}
    response = owner_client.post(_run(job), {"run": "dry", **mapping})
    assert response.status_code == 200 and "col_1" in response.context["form"].errors


def test_an_unusable_upload_says_why(owner_client):
    upload = SimpleUploadedFile("old.csv", b"\xd0\xcf\x11\xe0" + b"\0" * 64)
    owner_client.post(ADD, {"file": upload, "kind": "members"})
    job = ImportJob.objects.get()
    assert job.status == ImportJob.Status.FAILED
    assert ".xls" in owner_client.get(_page(job)).content.decode()


def test_it_refuses_other_file_types(owner_client):
    upload = SimpleUploadedFile("members.pdf", b"%PDF-1.4")
    response = owner_client.post(ADD, {"file": upload, "kind": "members"})
    assert response.status_code == 200 and response.context["form"].errors
    assert not ImportJob.objects.exists()


def test_run_takes_post_only(owner_client, store):
    _upload(owner_client, ROWS)
    job = ImportJob.objects.get()
    assert owner_client.get(_run(job)).status_code == 405


def test_a_stopped_import_offers_resume(owner_client, store, django_capture_on_commit_callbacks):
    _upload(owner_client, ROWS)
    job = ImportJob.objects.get()
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, dry_run=False, rows_total=3, message="boom"
    )
    assert 'value="resume"' in owner_client.get(_page(job)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(_run(job), {"run": "resume"})
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Member.objects.count() == 2


def test_managers_and_clerks_may_not_import(manager_client, client, clerk, store):
    assert manager_client.get(ADD).status_code == 403
    job = runner.import_job_create(
        file=SimpleUploadedFile("m.csv", b"phone\n13800138000\n"), file_name="m.csv"
    )
    assert manager_client.post(_run(job), {"run": "import"}).status_code == 403
    assert manager_client.get(_page(job)).status_code == 403
    client.force_login(clerk)
    assert client.get(ADD).status_code == 302  # to the admin login: not staff


def test_the_member_list_has_the_import_and_export_buttons(client, owner, manager):
    members = reverse("admin:members_member_changelist")
    client.force_login(owner)
    page = client.get(members).content.decode()
    assert reverse("admin:members_member_import") in page
    assert reverse("admin:members_member_export") in page
    response = client.get(reverse("admin:members_member_import"))
    assert response.status_code == 302 and response["Location"] == ADD
    client.force_login(manager)
    page = client.get(members).content.decode()
    assert reverse("admin:members_member_import") not in page
    assert reverse("admin:members_member_export") in page
    assert client.get(reverse("admin:members_member_import")).status_code == 403
