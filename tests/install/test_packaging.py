"""Ready to publish: ``python -m build`` makes an sdist and a wheel that ``twine check`` accepts,
without a setuptools warning, with the version and the licence declared once."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile

import pytest

import wagtail_salesforce
from tests.install.conftest import Distribution

pytestmark = pytest.mark.install


def _wheel_metadata(distribution: Distribution) -> email.message.Message:
    with zipfile.ZipFile(distribution.wheel) as wheel:
        [name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(wheel.read(name))


def test_the_build_warns_about_nothing(distribution: Distribution) -> None:
    lines = distribution.build_output.splitlines()
    assert [line for line in lines if "Warning" in line or "deprecated" in line.lower()] == []


def test_twine_accepts_both_files(distribution: Distribution) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict",
         str(distribution.sdist), str(distribution.wheel)],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2, result.stdout


def test_the_version_is_the_packages_own(distribution: Distribution) -> None:
    metadata = _wheel_metadata(distribution)
    assert metadata["Version"] == wagtail_salesforce.__version__
    assert distribution.wheel.name.startswith(f"wagtail_salesforce-{metadata['Version']}-")


def test_the_licence_is_an_spdx_expression_with_its_file(distribution: Distribution) -> None:
    metadata = _wheel_metadata(distribution)
    assert metadata["License-Expression"] == "BSD-3-Clause"
    assert metadata.get_all("License-File") == ["LICENSE"]
    with zipfile.ZipFile(distribution.wheel) as wheel:
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in wheel.namelist())


def test_the_classifiers_name_the_supported_wagtail(distribution: Distribution) -> None:
    classifiers = _wheel_metadata(distribution).get_all("Classifier")
    assert "Framework :: Wagtail :: 8" in classifiers
    assert "Framework :: Wagtail :: 7" not in classifiers


def test_the_wheel_carries_templates_translations_schema_and_types(
    distribution: Distribution,
) -> None:
    with zipfile.ZipFile(distribution.wheel) as wheel:
        names = set(wheel.namelist())
    for name in (
        "wagtail_salesforce/py.typed",
        "wagtail_salesforce/config/schema.json",
        "wagtail_salesforce/locale/ja/LC_MESSAGES/django.mo",
        "wagtail_salesforce/templates/wagtail_salesforce/connection/settings.html",
        "wagtail_salesforce/sandbox/templates/login.html",
    ):
        assert name in names
    assert not any(name.startswith(("tests/", "example_site/")) for name in names)


def test_the_sdist_holds_the_licence_and_the_readme(distribution: Distribution) -> None:
    with tarfile.open(distribution.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"LICENSE", "README.md", "pyproject.toml"} <= names
