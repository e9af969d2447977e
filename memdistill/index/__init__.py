"""Derived search indexes (BM25, vectors) rebuilt from the SQLite store."""
