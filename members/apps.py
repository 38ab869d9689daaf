from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Churches and members"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the cache invalidation receivers)
