from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "members"
    verbose_name = "Churches and members"

    def ready(self) -> None:
        from . import login, signals  # noqa: F401  (connect the throttle's and the cache invalidation's receivers)
