"""Performance benchmarks: throughput, fixed costs and capacity, each against a baseline."""
