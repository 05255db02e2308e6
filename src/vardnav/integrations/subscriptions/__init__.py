"""FHIR R4 Subscriptions: validation, matching inside the write transaction, an outbox, and
rest-hook and websocket delivery (docs/subscriptions.md). Generic: knows FHIR, nothing of
Swedish care; workflows define topics with `topics.register_topic`."""
