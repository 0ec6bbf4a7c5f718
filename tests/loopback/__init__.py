"""Servers on 127.0.0.1 that speak real platform protocols, so the real SDKs run in tests."""
