"""The form tests share the outbox tests' sandbox, connected site and YAML fixtures."""

from tests.outbox.conftest import (  # noqa: F401
    _outbox_sandbox_session,
    config_file,
    connection,
    outbox_settings,
    sandbox,
    site,
)
