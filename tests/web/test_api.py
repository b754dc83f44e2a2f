"""The web app's own rules, over real HTTP on loopback against ``python -m web`` and the real
Redis: identity from the server, CSRF, origin, input limits, per-session rate limit,
attachments by content. Rasa is down here, so every message is answered with
``utter_technical_difficulty`` (never silence); tests/web/test_full_complaint.py has Rasa."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import yaml

from tests.web.conftest import (
    UNUSED_RASA_PORT, WEB_PORTS, WebApp, kept_evidence, session_id_of, start_web, web_env, web_redis,
)
from tests.web.test_evidence import ELF, PNG

DOMAIN = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))["responses"]


def say(name: str, **values: str) -> str:
    return DOMAIN[name][0]["text"].format(**values)


class Visitor:
    """A browser-like client: its own cookie jar, the page first, then the API."""

    def __init__(self, app: WebApp, http: aiohttp.ClientSession) -> None:
        self.app, self.http, self.csrf = app, http, ""

    @property
    def cookie(self) -> str:
        return self.http.cookie_jar.filter_cookies(self.app.url)["webchat_session"].value

    async def open_page(self) -> aiohttp.ClientResponse:
        async with self.http.get(f"{self.app.url}/") as page:
            await page.read()
        async with self.http.get(f"{self.app.url}/api/session") as response:
            self.csrf = (await response.json())["csrf_token"]
        return page

    async def post(self, path: str, **kwargs) -> tuple[int, dict]:
        headers = {"X-CSRF-Token": self.csrf} | kwargs.pop("headers", {})
        async with self.http.post(f"{self.app.url}{path}", headers=headers, **kwargs) as response:
            return response.status, await response.json()

    async def history(self) -> tuple[int, dict]:
        async with self.http.get(f"{self.app.url}/api/history") as response:
            return response.status, await response.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


@pytest.fixture
async def visitor(offline_web: WebApp, http: aiohttp.ClientSession) -> Visitor:
    visitor = Visitor(offline_web, http)
    await visitor.open_page()
    return visitor


async def test_the_page_issues_an_httponly_lax_session_cookie(offline_web: WebApp, http) -> None:
    page = await Visitor(offline_web, http).open_page()
    cookie = page.cookies["webchat_session"]
    assert page.status == 200 and page.content_type == "text/html"
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert cookie["max-age"] == "604800"
    assert len(cookie.value) >= 40
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]


async def test_secure_cookies_when_served_over_https(web_database_url: str, evidence_dir: Path, rest_token: str,
                                                     tmp_path: Path) -> None:
    env = web_env(web_database_url, evidence_dir, UNUSED_RASA_PORT, rest_token, WEB_SECURE_COOKIES="1")
    app = start_web(WEB_PORTS[7], env, tmp_path)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{app.url}/") as page:
            cookie = page.cookies["webchat_session"]
    finally:
        app.stop()
    assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax"


async def test_every_page_load_renews_the_session_lifetime(visitor: Visitor) -> None:
    client = web_redis()
    key = f"webchat_session_{visitor.cookie}"
    client.expire(key, 100)
    await visitor.open_page()
    assert client.ttl(key) > 86000
    client.close()


async def test_a_message_is_stored_with_the_reply_and_a_reload_sees_it(visitor: Visitor) -> None:
    status, body = await visitor.post("/api/messages", json={"text": "My parcel never came"})
    assert status == 200
    assert [(i["from"], i["text"]) for i in body["items"]] == [
        ("customer", "My parcel never came"), ("bot", say("utter_technical_difficulty")),
    ]
    await visitor.open_page()  # a reload: same cookie, same conversation
    status, history = await visitor.history()
    assert status == 200 and history["items"] == body["items"]


async def test_every_api_needs_the_session_cookie(offline_web: WebApp) -> None:
    async with aiohttp.ClientSession() as stranger:
        for method, path in (("GET", "/api/session"), ("GET", "/api/history"), ("POST", "/api/messages"),
                             ("POST", "/api/attachments")):
            async with stranger.request(method, f"{offline_web.url}{path}", json={"text": "hi"}) as response:
                assert (response.status, await response.json()) == (401, {"error": "no_session"}), path
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await stranger.ws_connect(offline_web.ws_url, origin=offline_web.url)
        assert refused.value.status == 401


async def test_a_second_browser_cannot_read_or_write_the_first_conversation(offline_web: WebApp, visitor: Visitor) -> None:
    await visitor.post("/api/messages", json={"text": "private words"})
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other_jar:
        other = Visitor(offline_web, other_jar)
        await other.open_page()
        assert (await other.history()) == (200, {"items": []})
        other.csrf = visitor.csrf  # even with the first one's token, it writes only to its own session
        status, body = await other.post("/api/messages", json={"text": "intruder"})
        assert (status, body) == (403, {"error": "bad_csrf_token"})
    _, history = await visitor.history()
    assert [i["text"] for i in history["items"] if i["from"] == "customer"] == ["private words"]


async def test_a_post_without_the_csrf_token_is_refused(visitor: Visitor) -> None:
    status, body = await visitor.post("/api/messages", json={"text": "hi"}, headers={"X-CSRF-Token": "forged"})
    assert (status, body) == (403, {"error": "bad_csrf_token"})
    assert (await visitor.history()) == (200, {"items": []})


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [(b"{not json", 400, "bad_request"), (b"[]", 400, "bad_request"), (b'{"text": 5}', 400, "bad_request"),
     (b'{"text": "   "}', 400, "empty_message"), (b'{"text": "' + b"x" * 70_000 + b'"}', 413, "too_large")],
    ids=["malformed", "not-an-object", "not-text", "blank", "oversized"],
)
async def test_bad_bodies_are_refused_with_a_reason(visitor: Visitor, body: bytes, status: int, error: str) -> None:
    got_status, got = await visitor.post("/api/messages", data=body, headers={"Content-Type": "application/json"})
    assert (got_status, got["error"]) == (status, error)


async def test_a_long_message_is_kept_whole(visitor: Visitor) -> None:
    narrative = "It started when the parcel was late. " * 540  # 19,980 characters, under the page's 20,000
    status, body = await visitor.post("/api/messages", json={"text": narrative})
    assert status == 200
    assert body["items"][0]["text"] == narrative.strip()


async def test_a_flooding_session_is_slowed_down_and_others_are_not(offline_web: WebApp, visitor: Visitor) -> None:
    results = [await visitor.post("/api/messages", json={"text": f"spam {n}"}) for n in range(22)]
    assert [status for status, _ in results] == [200] * 20 + [429, 429]
    assert results[-1][1]["items"][0]["text"] == say("utter_slow_down")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as jar:
        calm = Visitor(offline_web, jar)
        await calm.open_page()
        assert (await calm.post("/api/messages", json={"text": "hello"}))[0] == 200


async def test_the_websocket_checks_the_origin_and_answers_over_the_push(offline_web: WebApp, visitor: Visitor) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await visitor.http.ws_connect(offline_web.ws_url, origin="http://evil.example")
    assert refused.value.status == 403
    async with visitor.http.ws_connect(offline_web.ws_url, origin=offline_web.url) as ws:
        await ws.send_str("{broken")
        assert json.loads((await ws.receive(timeout=2)).data) == {"type": "error", "error": "bad_request"}
        await ws.send_json({"type": "message", "text": "hello there", "ref": 7})
        frames = [json.loads((await ws.receive(timeout=5)).data) for _ in range(3)]
    done = next(f for f in frames if f["type"] == "done")
    pushed = [f["item"] for f in frames if f["type"] == "item"]
    assert done["ref"] == 7
    assert [(i["from"], i["text"]) for i in done["items"]] == [
        ("customer", "hello there"), ("bot", say("utter_technical_difficulty")),
    ]
    assert pushed[0] == done["items"][0]  # the customer's own words are pushed before Rasa answers


async def test_a_photo_is_kept_as_evidence_of_this_conversation(visitor: Visitor, web_database_url: str,
                                                                 evidence_dir: Path) -> None:
    form = aiohttp.FormData()
    form.add_field("file", PNG, filename="damage.pdf", content_type="application/pdf")
    status, body = await visitor.post("/api/attachments", data=form)
    assert status == 200
    assert [(i["from"], i["text"]) for i in body["items"]] == [
        ("customer", "📎 damage.pdf"), ("bot", say("utter_attachment_received")),
    ]
    kept = kept_evidence(web_database_url, evidence_dir, f"web:{session_id_of(visitor.cookie)}")
    assert [(e.media_type, e.size, e.source, data) for e, data in kept] == [("image/png", len(PNG), "webchat", PNG)]


async def test_attachments_are_checked_by_content_and_size(visitor: Visitor) -> None:
    wrong = aiohttp.FormData()
    wrong.add_field("file", ELF, filename="photo.jpg", content_type="image/jpeg")
    assert await visitor.post("/api/attachments", data=wrong) == (
        415, {"error": "wrong_type", "text": say("utter_attachment_wrong_type")},
    )
    large = aiohttp.FormData()
    large.add_field("file", PNG + b"\0" * (1024 * 1024), filename="big.png", content_type="image/png")
    assert await visitor.post("/api/attachments", data=large) == (
        413, {"error": "too_large", "text": say("utter_attachment_too_large", max_mb="1")},
    )
    assert (await visitor.history()) == (200, {"items": []})


async def test_a_streamed_upload_without_length_is_cut_off_at_the_limit(visitor: Visitor) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        boundary = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n\r\n"
        yield boundary + PNG
        for _ in range(64):
            yield b"\0" * 65536
            await asyncio.sleep(0)
        yield b"\r\n--b--\r\n"

    status, body = await visitor.post(
        "/api/attachments", data=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert (status, body["error"]) == (413, "too_large")
