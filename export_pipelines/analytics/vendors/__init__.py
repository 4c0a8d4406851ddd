"""One module per vendor's analytics, each exporting ``SPECS``."""
