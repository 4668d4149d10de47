"""Kept so the documented ``python -m tt_forge_models.golden`` works; the code is :mod:`.testing.golden`."""

from .testing.golden import main

if __name__ == "__main__":
    raise SystemExit(main())
