"""HL7 v2.5 ADT over MLLP: outbound outbox and sender, inbound listener (docs/adt.md)."""
