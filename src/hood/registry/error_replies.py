"""What a registry's error answer says: its body (read capped), its error codes, and the
HoodError to raise for it (not found, access denied with a login hint, rate limited, or
the status and the registry's own text)."""

from __future__ import annotations

import httpx

from hood.core.errors import AuthError, HoodError, NotFound, RegistryError
from hood.core.jsonlimits import JSONRefused, loads_bounded
from hood.registry.auth import MAX_ERROR_BODY, error_text
from hood.registry.bodies import read_capped
from hood.registry.retry import retry_after


def read_error_body(response: httpx.Response) -> bytes:
    """The body of an error answer, at most MAX_ERROR_BODY bytes; b"" if it cannot be read."""
    try:
        return read_capped(response, MAX_ERROR_BODY, "error body")
    except (RegistryError, httpx.HTTPError, httpx.StreamError):
        return b""


def error_codes(body: bytes) -> list[str]:
    """The `code`s of the registry's JSON `errors` array, in order."""
    try:
        doc = loads_bounded(body, what="error body", max_size=MAX_ERROR_BODY)
    except JSONRefused:
        return []
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if not isinstance(errors, list):
        return []
    return [str(e.get("code", "")) for e in errors if isinstance(e, dict)]


def answer_error(
    response: httpx.Response, what: str, display_host: str, repository: str, push: bool
) -> HoodError:
    """The error for `response`, an answer about `what` in `repository` (as shown, host
    included) from registry `display_host`; `push`: the request was part of a push."""
    body = read_error_body(response)
    text = error_text(body)
    status = response.status_code
    codes = error_codes(body)
    if status == 404:
        lead = {
            "MANIFEST_UNKNOWN": "manifest unknown",
            "BLOB_UNKNOWN": "blob unknown",
            "NAME_UNKNOWN": "repository name not known to registry",
        }.get(codes[0] if codes else "", "not found")
        return NotFound(f"{lead}: {what}" + (f" ({text})" if text and lead != text else ""))
    if status in (401, 403):
        action = "push to" if push else "pull from"
        return AuthError(
            f"{what}: access denied ({text or ('unauthorized' if status == 401 else 'denied')}): "
            f"the repository may not exist, or you may need to `hood login {display_host}` "
            f"with an account allowed to {action} {repository}"
        )
    if status == 429:
        after = retry_after(response)
        wait = f" (the registry asks to wait {after:.0f} s)" if after is not None else ""
        return RegistryError(
            f"{what}: {display_host} says too many requests{wait}: "
            f"{text or 'TOOMANYREQUESTS'}; try again later or log in for a higher limit"
        )
    return RegistryError(
        f"{what}: {display_host} answered HTTP {status}" + (f": {text}" if text else "")
    )
