"""pytest-django settings: the example site's, on a throw-away SQLite database."""

from example_site.settings import *  # noqa: F403

SECRET_KEY = "tests-secret-key-not-for-production"  # noqa: S105
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": ":memory:",
        "TEST": {"NAME": ":memory:"},
    }
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Tests run django-q2 tasks inline unless a test starts a real cluster.
Q_CLUSTER = {
    "name": "wagtail_salesforce_tests",
    "orm": "default",
    "sync": True,
    "catch_up": False,
    "timeout": 60,
    "retry": 120,
}
# The local sandbox serves its login pages over plain HTTP on loopback, on any port.
WAGTAIL_SALESFORCE = {"ALLOWED_LOGIN_HOSTS": ["127.0.0.1", "localhost"]}
LOGGING = {"version": 1, "disable_existing_loggers": False}
