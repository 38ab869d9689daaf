from django.urls import path

from . import views

urlpatterns = [
    path("api/admin/cache/metrics", views.api_cache_metrics, name="api_cache_metrics"),
    path("api/admin/cache/health", views.api_cache_health, name="api_cache_health"),
    path("api/admin/cache/reset", views.api_cache_reset, name="api_cache_reset"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics, name="prometheus_metrics"),
]
