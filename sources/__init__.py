"""Source adapters: they fetch and return raw-contract frames, and decide nothing about validity."""
