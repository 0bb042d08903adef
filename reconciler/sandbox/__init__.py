"""Local emulators of the vendor APIs, faithful to the documents in shared/vendor-docs."""
