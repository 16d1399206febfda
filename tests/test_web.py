"""The HTTP server with real clients: TLS, basic auth, lifecycle, HTTP/1.1 semantics, gzip, idle connections."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import requests
import trustme
import yaml

from exporter.collector import MetricsPage
from exporter.config import ConfigError
from exporter.figures import Figure
from exporter.results import Results, Snapshot
from exporter.web import MetricsServer
from exporter.webconfig import load_web_config

PASSWORD = "correct horse battery staple"


def publish(results: Results, accuracy: float) -> None:
    results.publish(Snapshot("m", "1", (Figure("mlmon_accuracy_ratio", accuracy),)))


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_files(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tls")
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("prometheus@example.org")
    files = {
        "ca": folder / "ca.pem",
        "cert": folder / "server.pem",
        "key": folder / "server.key",
        "client": folder / "client.pem",
    }
    ca.cert_pem.write_to_path(str(files["ca"]))
    server.cert_chain_pems[0].write_to_path(str(files["cert"]))
    server.private_key_pem.write_to_path(str(files["key"]))
    client.private_key_and_cert_chain_pem.write_to_path(str(files["client"]))
    return files


def web_config(folder: Path, files: dict[str, Path], client_ca: bool = False) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    tls: dict[str, str] = {"cert_file": files["cert"].name, "key_file": files["key"].name}
    if client_ca:
        tls["client_ca_file"] = str(files["ca"])
    path = files["cert"].parent / f"web-{'mtls' if client_ca else 'tls'}.yml"
    path.write_text(yaml.safe_dump({"tls_server_config": tls, "basic_auth_users": {"prometheus": hashed}}))
    return path


class Served:
    def __init__(self, server: MetricsServer, results: Results, page: MetricsPage, reloads: list[int]) -> None:
        self.server, self.results, self.page, self.reloads = server, results, page, reloads

    @property
    def url(self) -> str:
        return self.server.url


def serve(web_file: Path | None = None, lifecycle: bool = False) -> Served:
    results = Results()
    publish(results, 0.75)
    page = MetricsPage(results)
    reloads: list[int] = []

    def reload() -> str | None:
        reloads.append(1)
        return None

    web = load_web_config(web_file) if web_file is not None else None
    server = MetricsServer(page, "127.0.0.1:0", ["m:1"], reload, web=web, lifecycle=lifecycle)
    server.start()
    return Served(server, results, page, reloads)


@pytest.fixture
def https(tls_files: dict[str, Path]) -> Iterator[Served]:
    served = serve(web_config(tls_files["cert"].parent, tls_files), lifecycle=True)
    try:
        yield served
    finally:
        served.server.stop()


@pytest.fixture
def plain() -> Iterator[Served]:
    served = serve()
    try:
        yield served
    finally:
        served.server.stop()


def test_https_with_basic_auth_refuses_wrong_credentials_and_serves_right_ones(
    https: Served, tls_files: dict[str, Path]
) -> None:
    assert https.url.startswith("https://127.0.0.1:")
    ca = str(tls_files["ca"])
    for auth in (None, ("prometheus", "wrong"), ("nobody", PASSWORD), ("prometheus", PASSWORD + " ")):
        answer = requests.get(f"{https.url}/metrics", auth=auth, verify=ca, timeout=10)
        assert answer.status_code == 401, auth
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
        assert "mlmon_accuracy_ratio" not in answer.text
    answer = requests.get(f"{https.url}/metrics", auth=("prometheus", PASSWORD), verify=ca, timeout=10)
    assert answer.status_code == 200
    assert 'mlmon_accuracy_ratio{model="m",version="1"} 0.75' in answer.text
    # every endpoint is behind the same credentials
    assert requests.get(f"{https.url}/-/healthy", verify=ca, timeout=10).status_code == 401
    assert requests.get(f"{https.url}/", auth=("prometheus", PASSWORD), verify=ca, timeout=10).status_code == 200


def test_https_is_not_served_as_plain_http_nor_to_a_client_that_does_not_trust_it(https: Served) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{https.url}/metrics", auth=("prometheus", PASSWORD), timeout=10)
    plain_url = https.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain_url}/metrics", auth=("prometheus", PASSWORD), timeout=10)


def test_reload_needs_the_same_credentials(https: Served, tls_files: dict[str, Path]) -> None:
    ca = str(tls_files["ca"])
    assert requests.post(f"{https.url}/-/reload", verify=ca, timeout=10).status_code == 401
    assert requests.post(f"{https.url}/-/reload", auth=("prometheus", "no"), verify=ca, timeout=10).status_code == 401
    assert https.reloads == []
    answer = requests.post(f"{https.url}/-/reload", auth=("prometheus", PASSWORD), verify=ca, timeout=10)
    assert answer.status_code == 200 and https.reloads == [1]


def test_client_certificates_are_required_when_a_client_ca_is_set(ca: trustme.CA, tls_files: dict[str, Path]) -> None:
    served = serve(web_config(tls_files["cert"].parent, tls_files, client_ca=True))
    try:
        auth = ("prometheus", PASSWORD)
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(f"{served.url}/metrics", auth=auth, verify=str(tls_files["ca"]), timeout=10)
        answer = requests.get(
            f"{served.url}/metrics", auth=auth, verify=str(tls_files["ca"]), cert=str(tls_files["client"]), timeout=10
        )
        assert answer.status_code == 200
        stranger = trustme.CA().issue_cert("mallory@example.org")
        stranger_file = tls_files["cert"].parent / "stranger.pem"
        stranger.private_key_and_cert_chain_pem.write_to_path(str(stranger_file))
        with pytest.raises(requests.exceptions.RequestException):
            requests.get(
                f"{served.url}/metrics", auth=auth, verify=str(tls_files["ca"]), cert=str(stranger_file), timeout=10
            )
    finally:
        served.server.stop()


def test_the_lifecycle_api_is_off_unless_enabled(plain: Served) -> None:
    answer = requests.post(f"{plain.url}/-/reload", timeout=10)
    assert answer.status_code == 403 and "--web.enable-lifecycle" in answer.text
    assert plain.reloads == []


def _raw(served: Served, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", served.server.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_head_405_and_bad_requests(plain: Served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", plain.server.port, timeout=10)
    connection.request("GET", "/metrics")
    get = connection.getresponse()
    body = get.read()
    assert get.version == 11 and get.status == 200
    # the same connection serves the next request (HTTP/1.1 keep-alive)
    connection.request("HEAD", "/metrics")
    head = connection.getresponse()
    assert head.status == 200 and head.read() == b""
    assert head.getheader("Content-Type") == get.getheader("Content-Type")
    assert abs(int(head.getheader("Content-Length")) - len(body)) < 64  # the live process_* figures move
    connection.request("POST", "/metrics", body=b"x")
    wrong = connection.getresponse()
    assert wrong.status == 405 and wrong.getheader("Allow") == "GET, HEAD"
    wrong.read()
    connection.request("GET", "/-/reload")
    wrong = connection.getresponse()
    assert wrong.status == 405 and wrong.getheader("Allow") == "POST, PUT"
    wrong.read()
    connection.close()
    assert _raw(plain, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400 ")
    assert _raw(plain, b"GET / HTTP/1.1\r\nX-" + b"a" * 40000 + b"\r\n\r\n").startswith(b"HTTP/1.1 431 ")
    assert _raw(plain, b"GET /-/healthy HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 OK\r\n")


def test_gzip_when_asked_and_only_then(plain: Served) -> None:
    def fetch(encoding: str | None) -> http.client.HTTPResponse:
        connection = http.client.HTTPConnection("127.0.0.1", plain.server.port, timeout=10)
        connection.request("GET", "/metrics", headers={"Accept-Encoding": encoding} if encoding else {})
        return connection.getresponse()

    zipped = fetch("gzip, deflate")
    assert zipped.getheader("Content-Encoding") == "gzip"
    raw = zipped.read()
    # one gzip stream, not several members: curl and some browsers read only the first member
    stream = zlib.decompressobj(16 + zlib.MAX_WBITS)
    text = stream.decompress(raw).decode()
    assert stream.eof and stream.unused_data == b""
    assert text == gzip.decompress(raw).decode()
    assert 'mlmon_accuracy_ratio{model="m",version="1"} 0.75' in text
    assert "process_cpu_seconds_total" in text  # the live tail follows the cached part
    for refused in (None, "identity", "gzip;q=0"):
        answer = fetch(refused)
        assert answer.getheader("Content-Encoding") is None
        assert "mlmon_accuracy_ratio" in answer.read().decode()
    # requests, like Prometheus, decodes it transparently
    answer = requests.get(f"{plain.url}/metrics", timeout=10)
    assert answer.headers["Content-Encoding"] == "gzip" and "mlmon_accuracy_ratio" in answer.text


def test_the_page_is_rendered_once_per_published_change(plain: Served) -> None:
    for _ in range(5):
        for accept in ("text/plain", "application/openmetrics-text; version=1.0.0"):
            requests.get(f"{plain.url}/metrics", headers={"Accept": accept}, timeout=10)
    assert plain.page.renders == 2  # one per format
    publish(plain.results, 0.5)
    answer = requests.get(f"{plain.url}/metrics", timeout=10)
    assert 'mlmon_accuracy_ratio{model="m",version="1"} 0.5' in answer.text
    assert plain.page.renders == 3


def test_a_thousand_idle_connections_add_no_threads(plain: Served) -> None:
    before = threading.active_count()
    idle = []
    try:
        for _ in range(1000):
            idle.append(socket.create_connection(("127.0.0.1", plain.server.port), timeout=10))
        half_open = idle[0]
        half_open.sendall(b"GET /metrics HTTP/1.1\r\n")  # a request that never finishes
        answer = requests.get(f"{plain.url}/metrics", timeout=30)
        assert answer.status_code == 200 and "mlmon_accuracy_ratio" in answer.text
        assert plain.server.connections >= 1000
        assert threading.active_count() - before < 10
    finally:
        for sock in idle:
            sock.close()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ({"basic_auth_user": {}}, "basic_auth_user: Extra inputs are not permitted, did you mean `basic_auth_users`?"),
        ({"basic_auth_users": {"p": "plaintext"}}, "basic_auth_users.p: not a bcrypt hash"),
        ({"tls_server_config": {"cert_file": "absent.pem", "key_file": "absent.key"}}, "cannot load cert_file"),
        (
            {"tls_server_config": {"cert_file": "a", "key_file": "b", "client_auth_type": "RequireAnyClientCert"}},
            "tls_server_config.client_auth_type",
        ),
    ],
    ids=["unknown key", "plain password", "missing cert", "unverified client certs"],
)
def test_a_bad_web_config_is_one_clear_error(tmp_path: Path, content: dict[str, object], fragment: str) -> None:
    path = tmp_path / "web.yml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(ConfigError) as error:
        load_web_config(path)
    assert fragment in str(error.value)


def test_serve_with_a_web_config_end_to_end(tmp_path: Path, tls_files: dict[str, Path]) -> None:
    from helpers import write_project
    from support.processes import ExporterProcess

    class SecureExporter(ExporterProcess):
        @property
        def url(self) -> str:
            return f"https://{self.target}"

        def ready(self) -> bool:
            answer = requests.get(
                f"{self.url}/-/healthy", auth=("prometheus", PASSWORD), verify=str(tls_files["ca"]), timeout=2
            )
            return answer.status_code == 200

    config = write_project(tmp_path)
    web = web_config(tls_files["cert"].parent, tls_files)
    with SecureExporter("serve", ["--config", str(config), "--web.config.file", str(web)], tmp_path / "run") as exp:
        ca = str(tls_files["ca"])
        assert requests.get(f"{exp.url}/metrics", verify=ca, timeout=10).status_code == 401
        answer = requests.get(f"{exp.url}/metrics", auth=("prometheus", PASSWORD), verify=ca, timeout=10)
        assert answer.status_code == 200 and "mlmon_build_info" in answer.text


def test_a_tls_handshake_that_never_comes_does_not_hold_the_server(https: Served, tls_files: dict[str, Path]) -> None:
    silent = socket.create_connection(("127.0.0.1", https.server.port), timeout=10)
    try:
        ca = str(tls_files["ca"])
        answer = requests.get(f"{https.url}/-/healthy", auth=("prometheus", PASSWORD), verify=ca, timeout=10)
        assert answer.status_code == 200
    finally:
        silent.close()
