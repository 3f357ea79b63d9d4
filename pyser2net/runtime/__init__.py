"""What runs: the event loop, streams, devices, ports and the engine."""
