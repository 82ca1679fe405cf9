"""Load tests and benchmarks of the ctrkit service."""
