"""Coordinated discharge between hospital, primary care and municipality (Lag 2017:612):
the case per inpatient stay, notices, planning, ready for discharge, SIP, discharge
information, payment days and reports. See docs/discharge.md."""
