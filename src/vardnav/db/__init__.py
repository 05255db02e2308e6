"""Database engines and the unit of work."""
