"""Vårdnav: a FHIR R4-native shared health record platform."""

__version__ = "0.1.0"
