"""FHIR search: registry, parsing, extraction, SQL building, paging and includes."""
