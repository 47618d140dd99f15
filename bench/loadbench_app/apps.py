from django.apps import AppConfig


class LoadBenchConfig(AppConfig):
    name = "loadbench_app"
    label = "loadbench_app"
    default_auto_field = "django.db.models.BigAutoField"
