"""``make demo``: every export of the catalog, end to end, through a real instance and daemon."""
