"""Talking to registries: credentials, TLS per host, the auth challenge flow and the client.

Import `hood.registry.client` explicitly; this package itself imports nothing heavy, so that
commands which never touch a registry (`hood run`) never load httpx.
"""
