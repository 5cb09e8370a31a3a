"""Containers: state under ROOT/containers/ID/ as docker keeps it, and their lifecycle."""
