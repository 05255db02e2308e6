"""Who is calling and what they may do: signing keys, tokens, the principal, SMART scopes."""
