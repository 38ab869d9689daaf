"""The cache statistics page inside the Django admin (/admin/cache/).

Added to the default admin site's URLs (an AdminSite subclass would do the same, but would
change the project's admin for everyone): `admin_view` gives it the admin's login, staff
check and CSRF protection.
"""

from django.contrib import admin
from django.urls import path

from . import views

_admin_urls = admin.site.get_urls


def _get_urls():
    return [
        path("cache/", admin.site.admin_view(views.admin_cache_stats), name="cachemon_cache_stats"),
        path("cache/reset/", admin.site.admin_view(views.admin_cache_reset), name="cachemon_cache_reset"),
        *_admin_urls(),
    ]


admin.site.get_urls = _get_urls
