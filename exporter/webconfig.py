"""`--web.config.file`: TLS and basic authentication, in the format of Prometheus' exporter-toolkit.

```yaml
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_ca_file: clients.crt                  # optional: verify client certificates against it
  client_auth_type: RequireAndVerifyClientCert  # default when client_ca_file is set
  min_version: TLS12
basic_auth_users:
  prometheus: $2b$12$...                        # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':\\n')
```

Paths are relative to the web config file. Every endpoint needs the credentials when users are set.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import ssl
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exporter.config import ConfigError, config_error

BCRYPT_HASH = r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$"
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None
    # RequestClientCert and RequireAnyClientCert accept certificates nobody verified; not offered
    client_auth_type: Literal["NoClientCert", "VerifyClientCertIfGiven", "RequireAndVerifyClientCert"] | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS12", "TLS13"] | None = None


class HTTPServerConfig(_Strict):
    headers: dict[str, str] = Field(default_factory=dict)


class WebConfigFile(_Strict):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = Field(default_factory=HTTPServerConfig)
    basic_auth_users: dict[str, str] = Field(default_factory=dict)


class BasicAuth:
    """Checks `Authorization: Basic` credentials against bcrypt hashes.

    bcrypt is slow on purpose, so a credential that passed once is remembered (as a digest, never in
    clear) and a Prometheus scraping every few seconds pays for it once. An unknown user costs a
    comparison against a dummy hash, so response time does not tell which user names exist.
    """

    CACHE_SIZE = 256

    def __init__(self, users: dict[str, str]) -> None:
        import bcrypt

        self._bcrypt = bcrypt
        self._users = {name: hashed.encode() for name, hashed in users.items()}
        self._dummy = bcrypt.hashpw(b"not a password", bcrypt.gensalt(4))
        self._passed: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, authorization: str | None) -> bool:
        if not authorization or authorization[:6].lower() != "basic ":
            return False
        try:
            user, sep, password = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if not sep:
            return False
        key = hashlib.sha256(f"{len(user)}:{user}:{password}".encode()).digest()
        with self._lock:
            if key in self._passed:
                self._passed.move_to_end(key)
                return True
        hashed = self._users.get(user)
        try:
            ok = self._bcrypt.checkpw(password.encode(), hashed or self._dummy) and hashed is not None
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._passed[key] = None
                while len(self._passed) > self.CACHE_SIZE:
                    self._passed.popitem(last=False)
        return ok


class WebConfig:
    def __init__(self, ssl_context: ssl.SSLContext | None, auth: BasicAuth | None, headers: dict[str, str]) -> None:
        self.ssl_context = ssl_context
        self.auth = auth
        self.headers = headers

    @property
    def scheme(self) -> str:
        return "https" if self.ssl_context is not None else "http"


def _ssl_context(tls: TLSServerConfig, base: Path) -> ssl.SSLContext:
    def resolve(path: Path) -> Path:
        return path if path.is_absolute() else base / path

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    if tls.max_version is not None:
        context.maximum_version = TLS_VERSIONS[tls.max_version]
    cert, key = resolve(tls.cert_file), resolve(tls.key_file)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"tls_server_config: cannot load cert_file {cert} with key_file {key}: {exc}") from None
    auth_type = tls.client_auth_type or ("RequireAndVerifyClientCert" if tls.client_ca_file else "NoClientCert")
    if auth_type != "NoClientCert":
        if tls.client_ca_file is None:
            raise ConfigError(f"tls_server_config.client_auth_type: {auth_type} needs client_ca_file")
        ca = resolve(tls.client_ca_file)
        try:
            context.load_verify_locations(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"tls_server_config.client_ca_file: cannot load {ca}: {exc}") from None
    context.verify_mode = CLIENT_AUTH[auth_type]
    return context


def load_web_config(path: str | Path) -> WebConfig:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"--web.config.file: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"--web.config.file {path}: not valid YAML") from None
    try:
        parsed = WebConfigFile.model_validate(data or {})
    except ValidationError as exc:
        raise config_error(exc, WebConfigFile, prefix=f"--web.config.file {path}: ") from None
    for user, hashed in parsed.basic_auth_users.items():
        if not re.match(BCRYPT_HASH, hashed):
            raise ConfigError(f"--web.config.file {path}: basic_auth_users.{user}: not a bcrypt hash")
    base = path.resolve().parent
    context = _ssl_context(parsed.tls_server_config, base) if parsed.tls_server_config is not None else None
    auth = BasicAuth(parsed.basic_auth_users) if parsed.basic_auth_users else None
    return WebConfig(context, auth, dict(parsed.http_server_config.headers))
