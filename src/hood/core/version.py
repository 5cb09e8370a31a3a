"""hood's version: one place, which the package, the CLI and pyproject read."""

VERSION = "0.1.0"
