"""Course knowledge: parse and chunk course files, index them in Chroma, retrieve passages.

The core sees only the ``Embedder`` and ``Retriever`` ports; the composition root wires
the concrete pieces from here (see ``knowledge.service``).
"""
