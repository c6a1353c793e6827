"""The test suite; `tests.helpers` holds what test modules share."""
