"""Symbolic Knowledge Distillation as a service, in one namespace.

Layers, bottom to top (imports point down only): `skd.core` ← `skd.graph_schema` ← `skd.models` ←
`skd.ingest` ← `skd.pipeline` ← `skd.service` ← `skd.cli`.
"""

__version__ = "0.1.0"
