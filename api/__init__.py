"""The HTTP API over songspace's artifacts."""
