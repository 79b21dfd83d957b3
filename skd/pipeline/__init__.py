"""The pipeline: the stages of a Symbolic Knowledge Distillation run in order, their state and their report."""
