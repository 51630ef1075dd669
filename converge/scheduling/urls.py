from django.urls import path

from converge.scheduling import views, views_boards

urlpatterns = [
    path("calendar/", views.calendar_page, name="calendar"),
    path("calendar/book", views.calendar_book, name="calendar-book"),
    path("calendar/appointments/<int:appointment_id>/move", views.calendar_move, name="calendar-move"),
    path("calendar/appointments/<int:appointment_id>/status", views.calendar_status, name="calendar-status"),
    path("waitlist/", views_boards.waitlist_page, name="waitlist"),
    path("waitlist/<int:entry_id>/remove", views_boards.waitlist_remove_view, name="waitlist-remove"),
    path("waitlist/follow-ups/<int:item_id>/done", views_boards.follow_up_done_view, name="follow-up-done"),
    path("figures/", views_boards.figures_page, name="figures"),
    path("recall/", views_boards.recall_page, name="recall"),
]
