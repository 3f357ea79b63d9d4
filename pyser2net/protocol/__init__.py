"""Protocols without I/O: bytes and events in, bytes and events out."""
