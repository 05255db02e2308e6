"""FHIR operations ($validate, $everything), each with its OperationDefinition."""
