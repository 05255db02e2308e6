"""Patient data law (PDL): care relationships, consent, blocks, emergency access and the access log."""
