"""The admin tests reuse the connection tests' sandbox fixtures."""

from tests.connection.conftest import configured, connected, sandbox, site  # noqa: F401
