"""Admission, discharge and transfer: locations and beds, the encounter workflow, bed board."""
