from django.urls import path

from converge.privacy import settings_views

urlpatterns = [path("settings/policies/", settings_views.policies, name="policies")]
