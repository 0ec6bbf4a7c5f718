"""Servers on 127.0.0.1 that speak real platform protocols, so the real SDKs run in tests."""

# How long a test waits for something the bot is about to do. A safety net that catches a
# hang, never a timing check: CI runs on a loaded 2-core machine.
PATIENCE_S = 60.0
