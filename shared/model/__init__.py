"""What is trained and how it is judged and promoted: training, the built-in model, metrics, the
registry, gates, deploy and rollback, the canary, Azure ML jobs, and the model's steps of the chain.

May import: `shared.platform`, `shared.drift` (training profiles), `shared.chain` (completing steps).
"""
