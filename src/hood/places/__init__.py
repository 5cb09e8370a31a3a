"""Places an image can be (a registry repository, the store, a docker-archive, an OCI
layout, an oci-archive), all read and written through one model (places.model)."""
