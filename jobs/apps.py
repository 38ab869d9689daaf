from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Workers and periodic jobs"

    def ready(self) -> None:
        # Each app registers its periodic jobs in `<app>/periodic.py`.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("periodic")
        from . import checks  # noqa: F401  (registers the system checks)
