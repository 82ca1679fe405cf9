"""Hostile values over real HTTP: control characters in names, values the parser refuses, repeated keys,
content types, and what the public routes show."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest
from service_helpers import TOKEN, FakeLoader, admin_headers, raw_request, serve, settings, write_fake_model

JSON = {"content-type": "application/json"}
ROW = b'"user_id": 3, "C1": "a", "genres": ["x"]'
CONTROL = ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\u2028", "\u0085"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = tmp_path_factory.mktemp("hostile")
    write_fake_model(repo, "ads", 1)
    write_fake_model(repo, "broken", 1)
    config = settings(repo, admin_token=TOKEN, log_level="info", default_model="ads")
    with serve(config, loader=FakeLoader(fail={"broken/1"})) as running:
        running.repo = repo
        yield running


def predict(server, body: bytes, path: str = "/predict", headers=JSON) -> httpx.Response:
    return httpx.post(f"{server.url}{path}", content=body, headers=headers)


def quoted(text: str) -> str:
    return "".join(c if c.isalnum() else "%" + "%".join(f"{b:02X}" for b in c.encode()) for c in text)


@pytest.mark.parametrize("char", CONTROL)
def test_names_and_versions_with_control_characters_are_refused_everywhere(server, char):
    bad_model = orjson.dumps({"model": f"ads{char}", "instances": [{"user_id": 3}]})
    answer = predict(server, bad_model)
    assert answer.status_code == 422 and "invalid model name" in answer.text
    bad_version = orjson.dumps({"version": f"1{char}", "instances": [{"user_id": 3}]})
    answer = predict(server, bad_version)
    assert answer.status_code == 422 and "invalid version" in answer.text
    body = b'{"instances": [{' + ROW + b'}]}'
    name, version = "ads" + quoted(char), "1" + quoted(char)
    for method, path, status in [
        ("POST", f"/v1/models/{name}:predict", 400),
        ("POST", f"/v1/models/ads/versions/{version}:predict", 400),
        ("GET", f"/v1/models/{name}", 400),
        ("GET", f"/v1/models/ads/versions/{version}", 400),
        ("GET", f"/v1/models/{name}/metadata", 400),
        ("POST", f"/admin/models/{name}/versions/1:load", 400),
        ("POST", f"/admin/models/ads/versions/{version}:activate", 400),
        ("POST", f"/admin/models/{name}:rollback", 400),
        ("DELETE", f"/admin/models/ads/versions/{version}", 400),
        ("PUT", f"/admin/models/{name}/traffic", 400),
    ]:
        if method == "POST" and path.endswith(":predict"):
            answer = predict(server, body, path)
            got, text = answer.status_code, answer.text
        else:
            got, data = raw_request(server.url, method, path, admin_headers())
            text = data.decode()
        assert got == status, (method, path, got, text)
        assert "invalid" in text


def test_refused_names_are_logged_on_one_line(server, caplog):
    with caplog.at_level(logging.DEBUG):
        raw_request(server.url, "POST", "/admin/models/ads%0Afake-entry:rollback", admin_headers())
        raw_request(server.url, "POST", "/admin/models/ads/versions/1%0Afake-entry:load", admin_headers())
        raw_request(server.url, "POST", "/admin/models/ads:rollback", admin_headers())  # logged, then 409
    messages = [record.getMessage() for record in caplog.records]
    assert "admin: roll back model ads" in messages
    assert all("\n" not in m and "fake-entry" not in m for m in messages), messages


@pytest.mark.parametrize(
    "body, words",
    [
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "I1": 1e400}]}', "row 1, feature 'I1': value 1e400"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "I1": -Infinity}]}', "row 1, feature 'I1': value -Infinity"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "I1": NaN}]}', "row 1, feature 'I1': value NaN"),
        (b'{"instances": [{' + ROW + b'}, {"user_id": ' + b"7" * 5000 + b'}]}',
         "row 1, feature 'user_id': id 77777777777777777777...77777777 (5000 digits) is outside [0, 120)"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "C1": "ab\xff"}]}',
         "row 1, feature 'C1': the string is not valid UTF-8 (byte 0xff at character 2)"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "C1": "\\udc00"}]}',
         "row 1, feature 'C1': the string holds a lone UTF-16 surrogate (\\\\udc00"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "user_id": 1e400}]}',
         "row 1, feature 'user_id': expected an integer, got the number 1e400"),
        (b'{"instances": [{' + ROW + b'}, {' + ROW + b', "user_id": 4}]}',
         "row 1, feature 'user_id': given twice in the row"),
    ],
)
def test_refusals_name_row_feature_and_what_was_sent(server, body, words):
    answer = predict(server, body)
    assert answer.status_code == 422
    assert words in answer.text, answer.text
    tf = predict(server, body, "/v1/models/ads:predict", headers={})
    assert tf.status_code == 400 and words in tf.text, tf.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None, "application/jsonx", "application/json-patch+json"])
def test_predict_takes_json_only_and_tf_serving_takes_any(server, content_type):
    body = b'{"instances": [{' + ROW + b'}]}'
    headers = {"content-type": content_type} if content_type else {}
    answer = predict(server, body, headers=headers)
    assert answer.status_code == 415 and "send the body as application/json" in answer.text
    assert predict(server, body, "/v1/models/ads:predict", headers=headers).status_code == 200
    assert predict(server, body, headers={"content-type": "application/json; charset=utf-8"}).status_code == 200


def test_public_routes_show_no_server_file(server):
    repo = str(server.repo)
    for path in ("/models", "/v1/models/broken", "/v1/models/broken/versions/1", "/v1/models/ads", "/readyz"):
        answer = httpx.get(f"{server.url}{path}")
        assert repo not in answer.text and "cannot load" not in answer.text, (path, answer.text)
    public = {m["name"]: m for m in httpx.get(f"{server.url}/models").json()["models"]}
    [failed] = public["broken"]["versions"]
    assert failed == {"version": 1, "state": "failed",
                      "error": "the version failed to load (ValueError); the admin API has the details"}
    admin = httpx.get(f"{server.url}/admin/models", headers=admin_headers()).json()
    [entry] = [m for m in admin["models"] if m["name"] == "broken"][0]["versions"]
    assert entry["path"].startswith(repo) and entry["error"] == "ValueError: cannot load broken/1"
