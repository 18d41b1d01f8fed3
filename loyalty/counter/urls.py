"""/staff/: the counter (收银台) and the member 360 pages (loyalty/counter/views.py).

This is the staff home (LOGIN_REDIRECT_URL "staff:home"); the member search that
members served here is folded into the counter's search box.
"""

from django.urls import path

from loyalty.counter import count_cards, my_customers, prepaid, shift, views

app_name = "staff"

urlpatterns = [
    path("", views.counter, name="home"),
    path("verify/", views.verify, name="verify"),
    path("register/", views.register, name="register"),
    path("my-customers/", my_customers.my_customers, name="my_customers"),
    path("shift/", shift.shift, name="shift"),
    path("shift/print/", shift.shift_print, name="shift_print"),
    path("m/<str:member_no>/", views.counter_card, name="card"),
    path("m/<str:member_no>/extras/", views.counter_card_extras, name="card_extras"),
    path("m/<str:member_no>/purchase/", views.purchase, name="purchase"),
    path("m/<str:member_no>/stored-value/", prepaid.stored_value, name="stored_value"),
    path(
        "m/<str:member_no>/stored-value/cash-out/", prepaid.cash_out, name="stored_value_cash_out"
    ),
    path("m/<str:member_no>/stored-value/code/", prepaid.send_code, name="stored_value_code"),
    path("stored-value/<int:pk>/", prepaid.slip, name="stored_value_slip"),
    path("m/<str:member_no>/count-cards/", count_cards.count_cards, name="count_cards"),
    path(
        "m/<str:member_no>/count-cards/<int:card_id>/use/",
        count_cards.use,
        name="count_card_use",
    ),
    path(
        "m/<str:member_no>/count-cards/<int:card_id>/refund/",
        count_cards.refund,
        name="count_card_refund",
    ),
    path("purchases/<int:pk>/", views.receipt, name="receipt"),
    path("purchases/<int:pk>/refund/", views.refund, name="refund"),
    path("members/<str:member_no>/", views.member_detail, name="member"),
    path("members/<str:member_no>/edit/", views.member_edit, name="member_edit"),
    path("members/<str:member_no>/tags/", views.tag_add, name="tag_add"),
    path("members/<str:member_no>/tags/<int:tag_id>/remove/", views.tag_remove, name="tag_remove"),
    path("members/<str:member_no>/guide/", views.guide_set, name="guide"),
    path("members/<str:member_no>/points/", views.points_adjust_view, name="points_adjust"),
    path("members/<str:member_no>/coupons/", views.coupon_issue_view, name="coupon_issue"),
]
