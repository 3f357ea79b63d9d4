"""The error a TLS setup raises, in a module that does not load ``ssl``.

The TLS modules load the ssl library, some 5 MiB of resident memory, and
only a daemon with an ssl accepter needs them; the engine catches this
error for every port, so it lives here.
"""


class TlsSetupError(Exception):
    """A key, certificate or CA that cannot be used; the message names the file."""
