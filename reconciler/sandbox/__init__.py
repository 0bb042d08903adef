"""Local emulators of the vendor APIs, faithful to the vendors' public references (docs/vendors/)."""
