"""The region's care providers, care units and staff, and the municipalities' options."""
