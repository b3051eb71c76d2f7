"""Exceptions that become a row's ``status`` instead of stopping a sweep."""


class ConfigurationError(ValueError):
    """This configuration cannot run (e.g. a PNG-8 encoding asked for k=300)."""


class NotInstalledError(RuntimeError):
    """An optional peer (library or command-line tool) is missing; the row says "not installed"."""
