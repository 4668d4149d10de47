"""The weights policy: the ``weights=`` choices, the environment variables and the one offline rule.

Every environment variable the weights code reads is named here, and :func:`offline_reason` is the
one rule for "may this source use the network?": every source, the tokenizer and processor
loaders and the CLI ask it; nothing else reads the switches. Only the standard library is
imported at module level.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import WeightsPathError

WEIGHTS_ENV = "TT_FORGE_MODELS_WEIGHTS"


OFFLINE_ENV = "TT_FORGE_MODELS_OFFLINE"


#: huggingface_hub's own switch; it also holds for our hub sources (Hugging Face, timm)
HUB_OFFLINE_ENV = "HF_HUB_OFFLINE"


HUB_ENDPOINT_ENV = "HF_ENDPOINT"


HUB_DEFAULT_ENDPOINT = "https://huggingface.co"


#: huggingface_hub's request timeouts: while we call it we cap them, unless the user set these
HUB_ETAG_TIMEOUT_ENV = "HF_HUB_ETAG_TIMEOUT"


HUB_DOWNLOAD_TIMEOUT_ENV = "HF_HUB_DOWNLOAD_TIMEOUT"


CHOICES = ("pretrained", "random", "auto")


#: the deadline of the whole probe: name resolution, connection (through the proxy) and an answer
_PROBE_TIMEOUT_S = 2.0


#: how long a probe's answer is reused: a failed one is retried soon, so a network that comes
#: back is noticed, and a good one is re-checked now and then
_PROBE_TTL_S = {True: 300.0, False: 15.0}


_DEFAULT_PORTS = {"http": 80, "https": 443}


_probe_cache: dict[tuple[str, str, int], tuple[bool, float]] = {}


_probe_lock = threading.Lock()


#: the root of this package's own caches (the ONNX exports), else ``$XDG_CACHE_HOME/tt_forge_models``
CACHE_ENV = "TT_FORGE_MODELS_CACHE"


def cache_root() -> Path:
    """``$TT_FORGE_MODELS_CACHE``, else ``$XDG_CACHE_HOME/tt_forge_models``, else
    ``~/.cache/tt_forge_models`` (an empty variable counts as unset)."""
    explicit = os.environ.get(CACHE_ENV, "").strip()
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tt_forge_models"


def offline_switch_on() -> bool:
    """Our own switch says: do not touch the network. A value that is not a boolean is a
    ValueError naming the variable, so a typo never silently means "online"."""
    from ..validation import env_flag

    return env_flag(OFFLINE_ENV)


def user_set(name: str) -> bool:
    """Whether the environment sets ``name`` at all (then the user's value wins over our default)."""
    return name in os.environ


def hub_endpoint() -> str:
    """The Hugging Face hub's URL (``HF_ENDPOINT``, else huggingface.co); a value that is no
    http(s) URL is a ValueError naming the variable."""
    endpoint = os.environ.get(HUB_ENDPOINT_ENV, HUB_DEFAULT_ENDPOINT)
    try:
        parse_endpoint(endpoint)
    except ValueError as err:
        raise ValueError(f"environment variable {HUB_ENDPOINT_ENV}={endpoint!r}: {err}") from None
    return endpoint


def offline_reason(host: str | None, *, hub: bool = False) -> str | None:
    """Why a source must read only its caches, or None when it may use the network. The one rule:

    - our switch, ``TT_FORGE_MODELS_OFFLINE``, for every source;
    - ``HF_HUB_OFFLINE`` too for a hub source (``hub``);
    - else ``host`` (the source's download host, through the proxy) not answering within
      ``_PROBE_TIMEOUT_S``; a source without a host (nothing to download) is online.

    A switch that is not a boolean is a ValueError naming it.
    """
    from ..validation import env_flag

    if offline_switch_on():
        return f"{OFFLINE_ENV} is set"
    if hub and env_flag(HUB_OFFLINE_ENV):
        return f"{HUB_OFFLINE_ENV} is set"
    if host and not network_available(host):
        return f"{host.split('://', 1)[-1].split('/', 1)[0]} does not answer"
    return None


def is_offline(host: str | None, *, hub: bool = False) -> bool:
    """:func:`offline_reason` as a yes or no."""
    return offline_reason(host, hub=hub) is not None


def hub_offline() -> bool:
    """The rule for the Hugging Face hub itself (tokenizers, image processors, hub weights)."""
    return is_offline(hub_endpoint(), hub=True)


def parse_endpoint(url_or_host: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an endpoint URL or bare host, parsed by ``urllib.parse``: IPv6
    literals (``http://[::1]:9``), credentials (``https://user:pw@host:9``), and the scheme's own
    port when none is given. A bare ``host[:port]`` means https."""
    text = str(url_or_host).strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"endpoint {url_or_host!r} has an invalid port: {err}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"endpoint {url_or_host!r} must be an http(s) URL with a host, e.g. https://huggingface.co")
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def _probe_target(scheme: str, host: str, port: int) -> tuple[str, int]:
    """Where a request to ``host`` really goes: the proxy the environment configures for
    ``scheme`` (``HTTPS_PROXY``, honouring ``NO_PROXY``), else the host itself."""
    import urllib.request

    proxy = urllib.request.getproxies().get(scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        _, proxy_host, proxy_port = parse_endpoint(proxy if "://" in proxy else f"http://{proxy}")
        return proxy_host, proxy_port
    return host, port


def _answers(host: str, port: int, deadline: float) -> bool:
    """Whether ``host:port`` accepts a connection and says something within ``deadline`` seconds.

    Resolution, connection and the first bytes all run in a daemon thread joined with the one
    deadline: a hanging resolver or a server that accepts and never answers cannot stall us.
    """
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=deadline) as conn:
                conn.settimeout(deadline)
                # One harmless request line that nothing forwards: an HTTP server or proxy answers
                # it at once (an error will do), a TLS server sends an alert or closes. Silence
                # means requests would hang there too.
                conn.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
                conn.recv(1)
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, name="tt-forge-models-probe", daemon=True)
    thread.start()
    thread.join(deadline)
    return bool(result) and result[0]


def network_available(url_or_host: str) -> bool:
    """True when the host (or the proxy in front of it) answers within ``_PROBE_TIMEOUT_S``, so no
    download can hang on it. Answers are reused for a while (``_PROBE_TTL_S``), never forever."""
    if offline_switch_on():
        return False
    scheme, host, port = parse_endpoint(url_or_host)
    target = _probe_target(scheme, host, port)
    key = (scheme, *target)
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get(key)
    if cached is not None and now - cached[1] < _PROBE_TTL_S[cached[0]]:
        return cached[0]
    ok = _answers(*target, _PROBE_TIMEOUT_S)
    with _probe_lock:
        _probe_cache[key] = (ok, time.monotonic())
    return ok


def package_folder(spec: str) -> Path | None:
    """The folder ``spec`` (``"<package>/<sub/folder>"``) inside an installed package, or None.

    The package is located with ``importlib.util.find_spec`` and never imported, so naming a large
    package that ships model files costs nothing.
    """
    import importlib.util

    package, _, sub = str(spec).partition("/")
    if not package.isidentifier() or Path(sub).is_absolute() or ".." in Path(sub).parts:
        raise ValueError(
            f"package folder {spec!r} must be '<importable package>/<relative folder>', e.g. 'my_pkg/model'"
        )
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for root in (found.submodule_search_locations or []) if found is not None else []:
        folder = Path(root) / sub
        if folder.is_dir():
            return folder
    return None


def resolve_choice(weights: str | os.PathLike | None) -> str | Path:
    """Normalise ``weights=`` to one of ``CHOICES`` or an existing local ``Path``.

    ``None`` reads ``TT_FORGE_MODELS_WEIGHTS`` (unset means ``"auto"``); a bad value there is an
    error naming the variable. ``""`` is refused rather than taken as the current folder.
    """
    if weights is None:
        raw = os.environ.get(WEIGHTS_ENV)
        if raw is None:
            return "auto"
        try:
            return resolve_choice(raw.strip() if raw.strip() else raw)
        except (TypeError, ValueError, OSError) as err:
            raise type(err)(f"environment variable {WEIGHTS_ENV}={raw!r}: {err}") from None
    if isinstance(weights, os.PathLike):
        return _existing(Path(weights))
    if not isinstance(weights, str):
        raise TypeError(f"weights must be one of {CHOICES} or a path, got {type(weights).__name__} {weights!r}")
    if not weights.strip():
        raise WeightsPathError(f"weights={weights!r} is empty; accepted: {', '.join(CHOICES)} or a local path")
    if weights in CHOICES:
        return weights
    if os.sep in weights or "." in Path(weights).name or os.path.lexists(weights):
        return _existing(Path(weights))
    raise ValueError(f"unknown weights {weights!r}; accepted: {', '.join(CHOICES)} or a local path")


def _existing(path: Path) -> Path:
    """``path`` when it is a regular file or a folder; otherwise an error that says what it is."""
    path = path.expanduser()
    if not str(path).strip():
        raise WeightsPathError("the weights path is empty")
    try:
        mode = path.stat().st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise WeightsPathError(f"weights path {str(path)!r} is a symlink loop") from None
        if os.path.lexists(path) and err.errno == errno.ENOENT:
            raise FileNotFoundError(f"weights path {str(path)!r} is a dangling symlink") from None
        if err.errno == errno.ENOENT:
            raise FileNotFoundError(f"weights path {str(path)!r} does not exist") from None
        raise WeightsPathError(f"weights path {str(path)!r} cannot be read: {err.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = {
            stat.S_IFIFO: "a FIFO (named pipe)",
            stat.S_IFCHR: "a character device",
            stat.S_IFBLK: "a block device",
            stat.S_IFSOCK: "a socket",
        }.get(stat.S_IFMT(mode), "not a regular file")
        raise WeightsPathError(
            f"weights path {str(path)!r} is {kind}; expected a weights file or a save_pretrained/export folder"
        )
    return path
