"""The core every layer of hood stands on: errors, digests, references, platforms, OCI types,
JSON and time as Go writes them. Imports nothing heavy at module level (`hood run` loads
parts of it on its fast path)."""
