"""The data root, laid out exactly as dockerd's overlay2 one (see DESIGN.md)."""
