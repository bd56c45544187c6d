"""Exceptions that the CLI turns into one clear line and a non-zero exit."""


class RippleError(Exception):
    """An error the user can act on; its message is shown as is."""

    exit_code = 1


class ConfigError(RippleError):
    """Invalid or missing configuration."""

    exit_code = 2


class SourceError(RippleError):
    """A source failed in a way retrying will not fix (bad credentials, missing access, ...)."""


class BuildError(RippleError):
    """The warehouse build failed; the previously published warehouse is untouched."""


class AssertionFailed(BuildError):
    """A sql/tests assertion returned rows."""
