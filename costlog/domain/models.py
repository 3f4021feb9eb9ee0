"""Model-family normalisation. Pure."""

from functools import lru_cache

from costlog.constants import DEFAULT_PROVIDER, FAMILIES, UNKNOWN_MODEL


# A stream of events names a handful of models: each pair is worked out once.
@lru_cache(maxsize=1024)
def detect_model(model_id: str, provider: str = "") -> str:
    """Map a raw model id to its family: opus, sonnet, haiku or unknown.

    Claude ids (provider empty or ``claude``) are matched by substring, opus first; any other
    provider keeps its lower-cased raw id.
    """
    lowered = (model_id or "").lower()
    if provider.lower() not in ("", DEFAULT_PROVIDER):
        return lowered or UNKNOWN_MODEL
    return next((family for family in FAMILIES if family in lowered), UNKNOWN_MODEL)
