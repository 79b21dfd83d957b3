"""GraphQL types of the service, one per module."""
