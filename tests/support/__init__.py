"""Real parts the tests start on loopback: registries, a token server, dockerd, fixture images."""
