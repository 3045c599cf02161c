"""The ``stavegen`` command: one entry point for every ``python -m omr.*`` and
``python -m generate.*`` command (``stavegen.commands``).  The version is read from here by
``pyproject.toml``."""

__version__ = "0.1.0"
