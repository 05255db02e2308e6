"""One module per search-parameter type: a value (with prefix/modifier) → SQL condition on
that type's index table. Composed by `vardnav.fhir.search.query`."""
