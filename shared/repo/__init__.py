"""The watched ML repository: where its code comes from (git, GitHub, Azure DevOps), content-addressed
snapshots of a commit, its `driftline.toml`, and running its code (tests, training) in a sandbox.

May import: `shared.platform` (and `shared.drift` for nothing today). Knows no run or model.
"""
