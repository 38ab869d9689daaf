"""The platform statistics page inside the Django admin (/admin/stats/), beside the cache page.

Added to the default admin site's URLs as cachemon/admin.py adds its page: `admin_view` gives
it the admin's login and staff check.
"""

from django.contrib import admin
from django.urls import path

from . import views

_admin_urls = admin.site.get_urls


def _get_urls():
    return [
        path("stats/", admin.site.admin_view(views.admin_platform_stats), name="analytics_platform_stats"),
        *_admin_urls(),
    ]


admin.site.get_urls = _get_urls
