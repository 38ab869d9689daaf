from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    verbose_name = "Text messages"

    def ready(self) -> None:
        from cachemon import prometheus

        from . import health, signals  # noqa: F401  (connects the demo seeding receiver)

        prometheus.add_scrape_collector(health.QueueCollector())
