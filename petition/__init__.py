"""A privacy-first petition service for internal workplace campaigns."""

__version__ = "0.1.0"
