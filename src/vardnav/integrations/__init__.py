"""Adapters to other systems: HL7 v2 (hl7v2/), later FHIR subscriptions."""
