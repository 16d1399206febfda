"""Fetching and paging an HTTP endpoint, against a real local server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exporter.sources.http import HttpFetcher, MalformedPage, Pager, Retry, parse_page, position_of
from exporter.sources.registry import SourceUnavailable

from support.endpoint import Endpoint


def rows(n: int, start: int = 0) -> pd.DataFrame:
    ids = np.arange(start, start + n)
    return pd.DataFrame({"id": ids, "f0": ids / 7.0, "region": [["north", "south"][i % 2] for i in ids]})


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def fetcher(endpoint: Endpoint, path: str, **kwargs: object) -> HttpFetcher:
    kwargs.setdefault("sleep", Sleeps())
    return HttpFetcher(endpoint.url + path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_each_format_reads_back_the_same_table(fmt: str) -> None:
    frame = rows(7)
    with Endpoint(rows=frame, fmt=fmt, page_size=100) as endpoint:
        body = fetcher(endpoint, "/rows").get({})
    parsed = parse_page(body, fmt)
    pd.testing.assert_frame_equal(parsed, frame, check_dtype=False)
    assert parsed["f0"].tolist() == frame["f0"].tolist()  # floats exactly, whatever the format


@pytest.mark.parametrize(
    ("fmt", "body"),
    [
        ("jsonl", b'{"id": 1}\n{"id": 2\n'),
        ("jsonl", b"[1, 2]\n"),
        ("json", b'{"data": {"id": 1}}'),
        ("json", b'{"rows": [{"id": 1}]}'),
        ("json", b"\xff\xfe"),
        ("csv", b'id,f0\n1,"unterminated\n'),
    ],
)
def test_malformed_bodies_are_refused(fmt: str, body: bytes) -> None:
    with pytest.raises(MalformedPage):
        parse_page(body, fmt)


def test_json_records_may_sit_under_another_field() -> None:
    body = json.dumps({"items": [{"id": 1}, {"id": 2}], "next": None}).encode()
    assert parse_page(body, "json", records_field="items")["id"].tolist() == [1, 2]
    assert parse_page(b"  \n", "jsonl").empty


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    retry = Retry(attempts=6, backoff_seconds=0.5, max_backoff_seconds=3.0)
    assert [retry.delay(a, lambda: 1.0) for a in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [retry.delay(a, lambda: 0.25) for a in range(1, 4)] == [0.125, 0.25, 0.5]
    assert retry.delay(1, lambda: 1.0, retry_after=2.0) == 2.0
    assert retry.delay(1, lambda: 1.0, retry_after=60.0) == 3.0


def test_failing_answers_are_retried_until_one_succeeds() -> None:
    sleeps = Sleeps()
    with Endpoint(rows=rows(3), statuses=[503, 502, 500]) as endpoint:
        body = fetcher(
            endpoint, "/rows", retry=Retry(attempts=4, backoff_seconds=0.2), sleep=sleeps, draw=lambda: 0.5
        ).get({})
        assert len(endpoint.seen) == 4
    assert len(parse_page(body, "jsonl")) == 3
    assert sleeps.waits == [0.1, 0.2, 0.4]


def test_retry_after_is_honoured() -> None:
    sleeps = Sleeps()
    with Endpoint(rows=rows(1), statuses=[429], retry_after="1.5") as endpoint:
        fetcher(endpoint, "/rows", sleep=sleeps).get({})
    assert sleeps.waits == [1.5]


def test_when_retries_run_out_the_reason_is_the_last_failure() -> None:
    with Endpoint(statuses=[503] * 3) as endpoint:
        with pytest.raises(SourceUnavailable) as raised:
            fetcher(endpoint, "/rows", retry=Retry(attempts=3)).get({})
        assert len(endpoint.seen) == 3
    assert raised.value.reason == "status" and "503" in str(raised.value)


def test_a_client_error_is_not_retried() -> None:
    with Endpoint() as endpoint:
        with pytest.raises(SourceUnavailable) as raised:
            fetcher(endpoint, "/nowhere").get({})
        assert len(endpoint.seen) == 1
    assert raised.value.reason == "status"


def test_a_slow_answer_times_out_and_is_retried() -> None:
    sleeps = Sleeps()
    with Endpoint(rows=rows(2), delays=[1.0]) as endpoint:
        body = fetcher(endpoint, "/rows", timeout_seconds=0.3, sleep=sleeps).get({})
        assert len(endpoint.seen) == 2
    assert len(parse_page(body, "jsonl")) == 2 and len(sleeps.waits) == 1

    with Endpoint(rows=rows(2), delays=[1.0, 1.0]) as endpoint, pytest.raises(SourceUnavailable) as raised:
        fetcher(endpoint, "/rows", timeout_seconds=0.3, retry=Retry(attempts=2)).get({})
    assert raised.value.reason == "timeout"


def test_an_unreachable_endpoint_is_a_connection_failure() -> None:
    from support.processes import free_port

    gone = HttpFetcher(f"http://127.0.0.1:{free_port()}/rows", retry=Retry(attempts=2), sleep=Sleeps())
    with pytest.raises(SourceUnavailable) as raised:
        gone.get({})
    assert raised.value.reason == "connection"


def test_bearer_token_and_basic_auth_come_from_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("tok-123\n")
    with Endpoint(rows=rows(2), token="tok-123") as endpoint:
        assert parse_page(fetcher(endpoint, "/rows", bearer_token_file=token).get({}), "jsonl").shape[0] == 2
        with pytest.raises(SourceUnavailable) as raised:
            fetcher(endpoint, "/rows").get({})
        assert raised.value.reason == "auth"
        token.write_text("rotated\n")  # read again on every request: a rotated token is picked up
        endpoint.token = "rotated"
        assert fetcher(endpoint, "/rows", bearer_token_file=token).get({})
    password = tmp_path / "password"
    password.write_text("pw-456\n")
    with Endpoint(rows=rows(2), basic=("reader", "pw-456")) as endpoint:
        assert fetcher(endpoint, "/rows", basic_auth=("reader", password)).get({})
        password.write_text("wrong\n")
        with pytest.raises(SourceUnavailable) as raised:
            fetcher(endpoint, "/rows", basic_auth=("reader", password)).get({})
        assert "pw-456" not in str(raised.value) and "wrong" not in str(raised.value)
    with pytest.raises(SourceUnavailable) as raised:
        HttpFetcher("http://127.0.0.1:1/", bearer_token_file=tmp_path / "absent").get({})
    assert raised.value.reason == "auth"


class Run:
    """Successive runs of a pager, recording each page's key as the state store would."""

    def __init__(self, pager: Pager) -> None:
        self.pager = pager
        self.recorded: list[str] = []

    def __call__(self) -> list[pd.DataFrame | None]:
        pages = self.pager.pages(self.recorded[-1] if self.recorded else None, set(self.recorded))
        self.recorded += [page.key for page in pages]
        return [page.rows for page in pages]


@pytest.mark.parametrize("fmt", ["jsonl", "json", "csv"])
def test_a_cursor_reads_every_row_once_across_runs(fmt: str) -> None:
    with Endpoint(rows=rows(23), fmt=fmt, page_size=5) as endpoint:
        get = fetcher(endpoint, "/rows").get
        run = Run(Pager(get, fmt, cursor_param="since", cursor_column="id", max_rows=12))
        first = run()
        assert [len(f) for f in first] == [5, 5, 5]  # stops at the first page past the budget
        assert "since" not in endpoint.seen[0].params and endpoint.seen[1].params["since"] == "4"
        second = run()
        assert [len(f) for f in second] == [5, 3]
        assert run() == []
        endpoint.append(rows(4, start=23))
        third = run()
    ids = pd.concat([f for f in first + second + third if f is not None])["id"].tolist()
    assert ids == list(range(27))


def test_a_server_answering_from_the_cursor_inclusive_repeats_no_row() -> None:
    class Inclusive(Endpoint):
        def answer(self, path, params, headers):  # type: ignore[no-untyped-def]
            if "since" in params:
                params = {"since": str(int(params["since"]) - 1)}
            return super().answer(path, params, headers)

    with Inclusive(rows=rows(8), page_size=3) as endpoint:
        run = Run(Pager(fetcher(endpoint, "/rows").get, "jsonl", cursor_param="since", cursor_column="id"))
        ids = pd.concat(run())["id"].tolist()
    assert ids == list(range(8))


def test_a_malformed_page_is_a_batch_of_its_own_and_the_cursor_stays() -> None:
    with Endpoint(rows=rows(6), page_size=3, bodies=[]) as endpoint:
        run = Run(Pager(fetcher(endpoint, "/rows").get, "jsonl", cursor_param="since", cursor_column="id"))
        endpoint.bodies = [b"", b"not json\n", b"not json\n"]  # nothing yet, then the same garbage twice
        assert run() == []
        pages = run()
        assert pages == [None]  # the unreadable page, for the job to count and reject
        assert run() == []  # the same garbage again: already recorded, nothing new
        ids = pd.concat([p for p in run() if p is not None])["id"].tolist()  # the server recovered
    assert ids == list(range(6))
    assert position_of(None) == {}


def test_pages_are_read_once_and_the_last_page_again_for_rows_appended_to_it() -> None:
    with Endpoint(rows=rows(12), page_size=5) as endpoint:
        run = Run(Pager(fetcher(endpoint, "/pages").get, "jsonl", page_param="page"))
        assert [len(f) for f in run()] == [5, 5, 2]
        assert run() == []
        endpoint.append(rows(6, start=12))  # page 3 fills up, page 4 begins
        later = run()
        assert [len(f) for f in later] == [3, 3]
        assert pd.concat(later)["id"].tolist() == list(range(12, 18))
        # the third run went back to page 3, whose two rows were read already, then on to 4 and 5
        assert [s.params["page"] for s in endpoint.seen[-3:]] == ["3", "4", "5"]


def test_a_malformed_numbered_page_is_passed_over() -> None:
    with Endpoint(rows=rows(9), page_size=3) as endpoint:
        endpoint.bodies = [b"", b"{broken\n"]  # page 1 parses (empty body is no rows)... then page 1 again
        run = Run(Pager(fetcher(endpoint, "/pages").get, "jsonl", page_param="page"))
        assert run() == []
        pages = run()
    assert pages[0] is None and [len(p) for p in pages[1:]] == [3, 3]


def test_the_pager_needs_one_kind_of_position() -> None:
    with pytest.raises(ValueError):
        Pager(lambda p: b"", "jsonl")
    with pytest.raises(ValueError):
        Pager(lambda p: b"", "jsonl", cursor_param="since")
