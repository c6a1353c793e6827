"""Helpers the test modules share, imported as `tests.helpers.<module>` (fixtures stay in conftest.py).

- `queues`: read a queue back the same way on MemoryStorage and on AzureStorage;
- `memory`: the connection string settings get when the app runs on MemoryStorage;
- `api`: a small real model and its registration, for the HTTP API tests;
- `event_data`, `events`: generated tables, webhook payloads and queue/run look-ups for the event tests;
- `chain`: the `Chain` driver that feeds a run's messages to the chain's triggers;
- `entry_points`: training entry points and integration checks that chain tests name in settings
  (`tests.helpers.entry_points:small`).
"""
