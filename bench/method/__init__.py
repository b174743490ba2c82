"""Method benchmarks: whether the search and the statistics find what is planted or measured."""
