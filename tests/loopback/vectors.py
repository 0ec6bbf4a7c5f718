"""Deterministic stand-in embeddings for the loopback servers: hashed bags of words.

Texts sharing words get similar vectors, so retrieval through a loopback embedder still
ranks sensibly; the same text always gets the same vector.
"""

from __future__ import annotations

import hashlib
import math
import re

DIMENSIONS = 64


def bag_of_words(text: str, dimensions: int = DIMENSIONS) -> list[float]:
    vector = [0.0] * dimensions
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
        vector[int.from_bytes(digest, "big") % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
