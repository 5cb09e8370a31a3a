"""hood: Docker's image machinery without the daemon."""

__version__ = "0.1.0"
