from django.test import Client


def test_settings_defaults_are_read_through_conf(settings):
    from wagtail_salesforce import conf

    settings.WAGTAIL_SALESFORCE = {"API_VERSION": "63.0"}
    assert conf.get("API_VERSION") == "63.0"
    assert conf.get("MAX_RETRIES") == 3


def test_unknown_setting_key_is_reported_by_checks(settings):
    from wagtail_salesforce.checks import check_settings

    settings.WAGTAIL_SALESFORCE = {"API_VERSOIN": "63.0"}
    messages = check_settings()
    assert [m.id for m in messages] == ["wagtail_salesforce.W001"]
    assert "API_VERSOIN" in messages[0].msg


def test_a_task_timeout_shorter_than_the_outbox_tasks_is_reported_by_checks(settings):
    from wagtail_salesforce.checks import check_task_timeout

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 30, "retry": 40}
    [message] = check_task_timeout()
    assert message.id == "wagtail_salesforce.W002" and "30" in message.msg

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 60, "retry": 70}
    assert check_task_timeout() == []
    settings.Q_CLUSTER = {k: v for k, v in settings.Q_CLUSTER.items() if k != "timeout"}
    assert check_task_timeout() == []  # no timeout: django-q2 never kills a task


def test_wagtail_admin_login_page_renders(db):
    response = Client().get("/admin/login/")
    assert response.status_code == 200
