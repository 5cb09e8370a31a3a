"""The container runtime: namespaces and pivot_root by hand (builtin), or an OCI bundle
handed to runc/crun; docker's rules for what a container runs (spec)."""
