from django.apps import AppConfig


class CachemonConfig(AppConfig):
    name = "cachemon"
    verbose_name = "Cache monitoring"
