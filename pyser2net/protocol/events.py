"""The events every filter speaks: payload, and the base of all the others.

A filter turns bytes from below into a list of events for above.  Payload
is always ``Data``, whichever filter produced it, so that filters stack: a
filter above takes the ``Data`` of the one below as its input and passes
every other event up unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Base class of everything a filter reports upward."""


@dataclass(frozen=True)
class Data(Event):
    """Payload for the layer above, with this layer's framing removed."""

    data: bytes


@dataclass(frozen=True)
class LinkUp(Event):
    """A link layer (relpkt, serialtcp) reached its far end: data may flow."""


@dataclass(frozen=True)
class LinkDown(Event):
    """A link layer ended its connection.

    ``reason`` says why, for the log and for a client refused because of
    it; ``error`` is False when the link closed as asked (by either end).
    """

    reason: str
    error: bool = True
