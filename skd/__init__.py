"""The `skd` command line and the project-wide settings and errors that every package shares."""

__version__ = "0.1.0"
