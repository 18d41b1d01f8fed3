"""The job runs (JobRun) as staff read them: the job by what it does, its counts as a
sentence. The registry (loyalty.jobs.JOBS) keeps code names and one English line for
developers; these are the names the admin shows, the jobs of the apps above loyalty
included (names only: nothing of theirs is imported)."""

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext, pgettext_lazy

JOB_LABELS = {
    # loyalty
    "expire_points": _("Expire points past their date"),
    "notify_expiring_points": _("Remind members of expiring points"),
    "review_tiers": _("Tier review (downgrades and warnings)"),
    "birthday_benefits": _("Birthday coupons"),
    "monthly_tier_coupons": _("Monthly coupons of each tier"),
    "lifecycle_and_rfm": _("Lifecycle stages and RFM segments"),
    "expire_count_cards": _("Expire count cards past their date"),
    "notify_expiring_count_cards": _("Remind members of expiring count cards"),
    "expire_coupons": _("Expire coupons past their date"),
    "notify_expiring_coupons": _("Remind members of expiring coupons"),
    "prune_transfers": _("Delete old import and export files"),
    "requeue_waiting": _("Queue waiting imports and exports again"),
    # campaigns
    "send_messages": _("Send messages"),
    "dashboard_aggregates": _("Compute the dashboard figures"),
    "segments_refresh": _("Refresh segments and rule tags"),
    "send_campaigns": _("Send scheduled broadcasts"),
    "requeue_segment_runs": _("Queue waiting segment runs again"),
    "campaign_journeys": _("Run automated journeys"),
    # wechat
    "send_card_updates": _("Update member cards in WeChat"),
    "reconcile_member_cards": _("Check member cards in WeChat"),
    "prune_mp_tokens": _("Delete old mini-program sessions"),
    "prune_wechat_callbacks": _("Delete old WeChat callbacks"),
}

# The keys of the jobs' counts (what each returns); a context of their own, as "sent" or
# "days" mean other things elsewhere.
COUNT_LABELS = {
    "members": pgettext_lazy("job count", "members"),
    "lots": pgettext_lazy("job count", "points lots"),
    "points": pgettext_lazy("job count", "points"),
    "notices": pgettext_lazy("job count", "notices"),
    "downgraded": pgettext_lazy("job count", "downgraded"),
    "downgraded_inactive": pgettext_lazy("job count", "downgraded for inactivity"),
    "downgraded_review": pgettext_lazy("job count", "downgraded at review"),
    "kept": pgettext_lazy("job count", "tier kept"),
    "warned": pgettext_lazy("job count", "warned of a downgrade"),
    "issued": pgettext_lazy("job count", "issued"),
    "refused": pgettext_lazy("job count", "not issued"),
    "stage_changed": pgettext_lazy("job count", "stage changed"),
    "scored": pgettext_lazy("job count", "RFM scored"),
    "unscored": pgettext_lazy("job count", "RFM cleared"),
    "cards": pgettext_lazy("job count", "count cards"),
    "coupons": pgettext_lazy("job count", "coupons"),
    "import_files": pgettext_lazy("job count", "import files deleted"),
    "rows_refused": pgettext_lazy("job count", "refused rows deleted"),
    "export_files": pgettext_lazy("job count", "export files deleted"),
    "imports_requeued": pgettext_lazy("job count", "imports queued again"),
    "segment_runs_requeued": pgettext_lazy("job count", "segment runs queued again"),
    "exports_requeued": pgettext_lazy("job count", "exports queued again"),
    "sent": pgettext_lazy("job count", "sent"),
    "retry": pgettext_lazy("job count", "to retry"),
    "failed": pgettext_lazy("job count", "failed"),
    "skipped": pgettext_lazy("job count", "skipped"),
    "recovered": pgettext_lazy("job count", "recovered"),
    "days": pgettext_lazy("job count", "days"),
    "rows": pgettext_lazy("job count", "rows"),
    "tags_added": pgettext_lazy("job count", "tags added"),
    "tags_removed": pgettext_lazy("job count", "tags removed"),
    "reached": pgettext_lazy("job count", "members reached"),
    "journeys": pgettext_lazy("job count", "journeys"),
    "deleted": pgettext_lazy("job count", "callbacks deleted"),
    "urls_deleted": pgettext_lazy("job count", "callback URLs deleted"),
    "drifted": pgettext_lazy("job count", "cards out of step"),
    "repairs": pgettext_lazy("job count", "repairs queued"),
    "checked": pgettext_lazy("job count", "cards checked with WeChat"),
    "activated": pgettext_lazy("job count", "cards activated"),
    "sessions_deleted": pgettext_lazy("job count", "sessions deleted"),
    "card_updates_deleted": pgettext_lazy("job count", "card updates deleted"),
    "claim_links": pgettext_lazy("job count", "claim links made again"),
}


def job_label(name: str) -> str:
    """The job by what it does; a job not named here keeps its code name."""
    return str(JOB_LABELS.get(name, name))


def counts_summary(counts) -> str:
    """'会员 12、积分批次 3、积分 450': the counts that are not zero, in the job's order."""
    if not isinstance(counts, dict):
        return str(counts or "")
    parts = [
        _("%(label)s %(n)s") % {"label": COUNT_LABELS.get(key, key), "n": value}
        for key, value in counts.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and value
    ]
    if not parts:
        return str(_("nothing to do"))
    return pgettext("list separator", ", ").join(parts)
