"""The graph: relations, the node and edge model, triples files, all Cypher, the dialects and the store."""
