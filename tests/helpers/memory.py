"""The app's settings for tests on MemoryStorage."""

from __future__ import annotations

# A storage connection string that settings parse and nothing connects to: `context.storage()`
# answers the installed MemoryStorage, and port 9 refuses anything that would connect regardless.
MEMORY_CONNECTION = (
    "DefaultEndpointsProtocol=http;AccountName=memory;AccountKey=bWVtb3J5;"
    "BlobEndpoint=http://127.0.0.1:9/memory;QueueEndpoint=http://127.0.0.1:9/memory;"
)
