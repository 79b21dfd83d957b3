"""The one exception root of the project; edges (CLI, HTTP, GraphQL) turn these into codes."""

from __future__ import annotations


class SkdError(Exception):
    """Root of every error this project raises on purpose."""

    exit_code = 1


class ConfigError(SkdError):
    """A setting is missing or has a value that cannot work."""

    exit_code = 2


class InputError(SkdError):
    """User input (a file, a relation name, a text) is malformed; the message names what and where."""

    exit_code = 2


class GraphUnavailableError(SkdError):
    """The graph database cannot be reached or did not start."""

    exit_code = 3


class GraphError(SkdError):
    """The graph database refused or failed an operation."""

    exit_code = 3


class ModelError(SkdError):
    """A model could not be loaded, trained or run."""

    exit_code = 4


class TeacherError(ModelError):
    """The teacher endpoint failed after its retries, or a budget cap was hit."""


class BudgetExceededError(TeacherError):
    """A cap on requests, tokens or cost was reached; the run stops cleanly and can be resumed."""


class IncompleteRunError(SkdError):
    """A job ended before its work was done (a prompt limit, pairs left over); running it again resumes."""

    exit_code = 5
