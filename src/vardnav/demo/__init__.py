"""Synthetic demo data: test-tagged Swedish patients as FHIR R4 resources."""
