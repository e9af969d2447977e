"""Retrieval: modes, fusion and the retriever that drills down to verbatim text."""
