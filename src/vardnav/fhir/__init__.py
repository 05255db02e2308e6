"""The FHIR R4 engine. Knows FHIR, nothing Swedish; never imports vardnav.domains."""
