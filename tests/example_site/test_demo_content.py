import pytest
from django.test import Client
from home.demo_content import build_demo_content
from wagtail.contrib.forms.models import FormSubmission

pytestmark = pytest.mark.django_db


def test_demo_content_is_idempotent():
    first = build_demo_content(port=8000)
    second = build_demo_content(port=8000)
    assert first.landing.pk == second.landing.pk
    assert first.site.pk == second.site.pk
    assert [f.clean_name for f in second.landing.form_fields.all()] == [
        "email", "first_name", "last_name", "company", "message",
    ]


def test_landing_page_form_submission_is_stored_and_thanked():
    content = build_demo_content(port=8000)
    client = Client(HTTP_HOST="127.0.0.1:8000")
    response = client.post(
        content.landing.url_path.removeprefix(content.home.url_path.rstrip("/")),
        {"email": "ada@example.com", "last_name": "Lovelace", "first_name": "Ada",
         "company": "Analytical Engines", "message": "Hello"},
    )
    assert response.status_code == 200
    assert b'id="thank-you"' in response.content
    submission = FormSubmission.objects.get(page=content.landing)
    assert submission.get_data()["email"] == "ada@example.com"


def test_landing_page_rejects_an_invalid_email_without_storing():
    content = build_demo_content(port=8000)
    client = Client(HTTP_HOST="127.0.0.1:8000")
    response = client.post("/contact-us/", {"email": "not-an-email", "last_name": "X"})
    assert response.status_code == 200
    assert b'id="thank-you"' not in response.content
    assert not FormSubmission.objects.filter(page=content.landing).exists()
