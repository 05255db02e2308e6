"""Patient data law (PDL): care relationships, consent, blocks, emergency access, audit."""
