"""Developer tooling that is not deployed: the Azurite launcher used by tests and the run command."""
