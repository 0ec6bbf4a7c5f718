"""Platform adapters: each translates its platform's payloads to and from bot.events."""
