"""Server-rendered HTML pages (sign-in and, later, consent)."""
