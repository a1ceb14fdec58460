"""Version of keras-cmod."""

__version__ = "0.1.0"
