"""pyser2net: a drop-in replacement for ser2net."""

__version__ = "0.2.0"

#: The ser2net release whose behaviour pyser2net reproduces.  Tools that
#: start ser2net read it from ``-v`` (labgrid, for one, picks ser2net 3 or 4
#: command lines by it) and from the admin port's ``version`` answer.
SER2NET_VERSION = "4.3.11"
