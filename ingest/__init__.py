"""Jobs that move data: teacher generation, reading and writing triples files, loading the graph."""
