"""Identity of persons: Swedish national identifiers."""
