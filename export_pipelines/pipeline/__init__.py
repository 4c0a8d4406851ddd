"""One export's assets, the per-vendor status sensor, and the steps they run."""
