"""pyser2net: a drop-in replacement for ser2net."""

__version__ = "0.1.0"
