"""Versioned resource storage and search index tables."""
