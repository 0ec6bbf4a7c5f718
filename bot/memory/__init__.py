"""Course memory: reusable answers and FAQ curation (see bot.memory.memory)."""
