"""The YAML reference stays in step with the schema, and the pre-commit recipes work as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wagtail_salesforce.config import schema
from wagtail_salesforce.config.reference import markdown_table, reference_rows

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
VALID_CONFIG = (REPO / "example_site" / "salesforce.yaml").read_text(encoding="utf-8")
INVALID_CONFIG = (Path(__file__).parent / "invalid" / "misspelt-top-key.yaml").read_text("utf-8")


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def enum_values(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(str(v) for v in node.get("enum", ()))
        for value in node.values():
            found |= enum_values(value)
    elif isinstance(node, list):
        for value in node:
            found |= enum_values(value)
    return found


def hook_environment() -> dict[str, str]:
    """PATH with this interpreter's scripts first, no Django settings (as when committing)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_english_reference_embeds_the_table_generated_from_the_schema():
    text = (DOCS / "en" / "yaml-reference.md").read_text(encoding="utf-8")
    assert markdown_table() in text


def test_every_key_and_enum_value_appears_in_both_references():
    paths = [path for path, _kind, _required, _description in reference_rows()]
    assert len(paths) >= 30
    for language in ("en", "ja"):
        text = (DOCS / language / "yaml-reference.md").read_text(encoding="utf-8")
        missing = [path for path in paths if f"| `{path}` |" not in text]
        assert missing == [], (language, missing)
        assert [v for v in enum_values(schema()) if f"`{v}`" not in text] == [], language


def test_example_in_the_references_is_valid(tmp_path: Path):
    from wagtail_salesforce.config import load_config

    for language in ("en", "ja"):
        text = (DOCS / language / "yaml-reference.md").read_text(encoding="utf-8")
        example = next(block for block in code_blocks(text, "yaml") if "version: 1" in block)
        path = tmp_path / f"{language}.yaml"
        path.write_text(example, encoding="utf-8")
        config = load_config([path])
        assert set(config.forms) == {"contact-us"} and config.sync is not None


def precommit_hook() -> dict[str, object]:
    en = code_blocks((DOCS / "en" / "pre-commit.md").read_text(encoding="utf-8"), "yaml")
    ja = code_blocks((DOCS / "ja" / "pre-commit.md").read_text(encoding="utf-8"), "yaml")
    assert en == ja
    [hook] = yaml.safe_load(en[0])["repos"][0]["hooks"]
    return hook


@pytest.mark.parametrize(
    ("name", "matches"),
    [
        ("salesforce.yaml", True),
        ("salesforce.forms.yml", True),
        ("settings.yaml", False),
        ("docs/salesforce.md", False),
    ],
)
def test_precommit_hook_runs_on_the_config_files(name: str, matches: bool):
    assert bool(re.search(str(precommit_hook()["files"]), name)) is matches


@pytest.mark.parametrize(("content", "status"), [(VALID_CONFIG, 0), (INVALID_CONFIG, 1)])
def test_precommit_hook_command_passes_valid_and_fails_invalid_config(
    tmp_path: Path, content: str, status: int
):
    hook = precommit_hook()
    (tmp_path / "salesforce.yaml").write_text(content, encoding="utf-8")
    command = [*str(hook["entry"]).split(), *hook["args"]]  # type: ignore[misc]
    result = subprocess.run(
        command, cwd=tmp_path, env=hook_environment(), capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == status, result.stdout + result.stderr
    if status:
        assert "froms: unknown key 'froms' (did you mean 'forms'?)" in result.stdout


def test_plain_git_hook_refuses_a_commit_with_an_invalid_config(tmp_path: Path):
    script = next(
        block
        for block in code_blocks((DOCS / "en" / "pre-commit.md").read_text(encoding="utf-8"), "sh")
    )
    env = hook_environment() | {
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
            check=False,
        )  # fmt: skip

    assert git("init", "-q").returncode == 0
    hook = tmp_path / ".git" / "hooks" / "pre-commit"
    hook.write_text(script, encoding="utf-8")
    hook.chmod(0o755)
    (tmp_path / "salesforce.yaml").write_text(INVALID_CONFIG, encoding="utf-8")
    git("add", "salesforce.yaml")
    refused = git("commit", "-q", "-m", "invalid config")
    assert refused.returncode == 1
    assert "did you mean 'forms'?" in refused.stdout + refused.stderr
    (tmp_path / "salesforce.yaml").write_text(VALID_CONFIG, encoding="utf-8")
    git("add", "salesforce.yaml")
    assert git("commit", "-q", "-m", "valid config").returncode == 0
