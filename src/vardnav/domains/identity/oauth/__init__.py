"""The OAuth2 / SMART on FHIR authorisation server: apps, authorize, token, introspect, revoke."""
