"""Swedish and regional domain rules layered on the FHIR engine."""
