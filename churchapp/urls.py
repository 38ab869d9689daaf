from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from members.login import ThrottledLoginView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="dashboard", permanent=False), name="home"),
    path("accounts/login/", ThrottledLoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("analytics.urls")),
    path("", include("members.urls")),
    path("", include("attendance.urls")),
    path("", include("cachemon.urls")),
    path("", include("messaging.urls")),
]
