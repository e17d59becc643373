"""channel_app end to end: the city app backend's signed webhook through the real minyid —
good, bad, expired and replayed signatures; attachments inline and by URL (fetched from a
real HTTP server, hashed, kept under the state directory) with size and time limits."""

import base64
import hashlib
import hmac
import http.client
import json
import os
import time
import unittest
import uuid

from harness import Minyid, Origin, wait_until

SECRET = "app-shared-secret-0123456789"
PHOTO = bytes(range(256)) * 40  # 10 KiB "photo"


def signed(body, secret=SECRET, timestamp=None, nonce=None):
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex
    sig = hmac.new(secret.encode(), f"{ts}\n{nonce}\n".encode() + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Minyi-Timestamp": ts, "X-Minyi-Nonce": nonce,
            "X-Minyi-Signature": "sha256=" + sig}


class Files(Origin):
    """A CDN stand-in: /photo.jpg, /big.bin (2 MiB), /slow (answers only when closed), /gone (404)."""

    def __init__(self):
        def route(path, query, headers):
            if path == "/photo.jpg":
                return 200, "image/jpeg", PHOTO
            if path == "/big.bin":
                return 200, "application/octet-stream", b"x" * (2 << 20)
            if path == "/slow":
                self.release.wait(30)  # far past attachment_timeout
                return 200, "text/plain", b"late"
            return 404, "text/plain", b"not found"

        super().__init__(route)


class AppWebhookTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.files = Files()
        cls.d = Minyid(channels=[{"name": "cityapp", "plugin": "app", "secret": SECRET, "allow_http": True,
                                  "attachment_max_bytes": "1MiB", "attachment_timeout": "1s"},
                                 {"name": "strictapp", "plugin": "app", "path": "/strict", "secret": SECRET}]).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.files.close()

    def post(self, body, headers, path="/app/v1/messages"):
        if isinstance(body, dict):
            body = json.dumps(body, ensure_ascii=False).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data) if data else None
        finally:
            conn.close()

    def doc(self, sid):
        rows = self.d.query("SELECT doc FROM suggestions WHERE id=?", sid)
        return json.loads(rows[0][0])

    def test_good_signature_with_inline_and_fetched_attachments(self):
        msg = {"message_id": "app-1001", "content": "小区垃圾分类点夏天气味很大，希望增加清运次数",
               "kind": "suggestion", "user": {"id": "u-778", "phone": "13800138000"},
               "location": {"text": "幸福小区北门", "lat": 30.27, "lon": 120.15},
               "attachments": [{"data_base64": base64.b64encode(b"inline-bytes").decode(), "content_type": "image/png",
                                "filename": "a.png"},
                               {"url": self.files.base + "/photo.jpg", "content_type": "image/jpeg"}]}
        body = json.dumps(msg, ensure_ascii=False).encode()
        status, _, out = self.post(body, signed(body))
        self.assertEqual(status, 201, out)
        doc = self.doc(out["id"])
        self.assertEqual(doc["channel"], "app")
        self.assertEqual(doc["source"]["external_id"], "app-1001")
        self.assertNotIn("13800138000", json.dumps(doc))
        a0, a1 = doc["attachments"]
        self.assertEqual(a0["sha256"], hashlib.sha256(b"inline-bytes").hexdigest())
        self.assertEqual(a1["sha256"], hashlib.sha256(PHOTO).hexdigest())
        self.assertEqual(a1["bytes"], len(PHOTO))
        stored = os.path.join(self.d.state, "plugins", "cityapp", "attachments", a1["sha256"])
        self.assertEqual(a1["uri"], "file://" + os.path.abspath(stored))
        with open(stored, "rb") as f:
            self.assertEqual(f.read(), PHOTO)
        self.assertEqual(doc["extras"]["app"]["attachment_sources"][1]["url"], self.files.base + "/photo.jpg")
        # The same message again (new nonce, as a retrying backend sends it): the original id.
        status, _, again = self.post(body, signed(body))
        self.assertEqual((status, again["id"], again.get("replay")), (200, out["id"], True))

    def test_bad_expired_and_replayed_signatures(self):
        body = json.dumps({"message_id": "app-2001", "content": "路灯不亮"}).encode()
        before = self.d.query("SELECT COUNT(*) FROM suggestions")[0][0]
        cases = [
            ("bad_signature", signed(body, secret="not-the-secret-at-all")),
            ("expired", signed(body, timestamp=int(time.time()) - 3600)),
            ("signature_required", {"Content-Type": "application/json"}),
        ]
        tampered = signed(body)
        cases.append(("bad_signature", tampered))
        for code, headers in cases:
            payload = body if headers is not tampered else body.replace(b"2001", b"2002")
            status, _, out = self.post(payload, headers)
            self.assertEqual((status, out["error"]["code"]), (401, code))
        good = signed(body)
        self.assertEqual(self.post(body, good)[0], 201)
        status, _, out = self.post(body, good)
        self.assertEqual((status, out["error"]["code"]), (401, "replayed"), "a captured request cannot be replayed")
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM suggestions")[0][0], before + 1)

    def test_attachment_limits(self):
        # Too large and missing: the message is kept, the reasons recorded.
        body = json.dumps({"message_id": "app-3001", "content": "附件过大",
                           "attachments": [{"url": self.files.base + "/big.bin"},
                                           {"url": self.files.base + "/gone"}]}).encode()
        status, _, out = self.post(body, signed(body))
        self.assertEqual(status, 201, out)
        errors = self.doc(out["id"])["extras"]["app"]["attachment_errors"]
        self.assertIn("attachment_max_bytes", errors[0]["error"])
        self.assertIn("404", errors[1]["error"])
        # Too slow: a transient failure; the backend is told to retry and nothing is stored.
        body = json.dumps({"message_id": "app-3002", "content": "附件超时",
                           "attachments": [{"url": self.files.base + "/slow"}]}).encode()
        t0 = time.monotonic()
        status, headers, out = self.post(body, signed(body))
        self.assertEqual((status, out["error"]["code"]), (503, "attachment_unavailable"))
        self.assertIn("retry-after", headers)
        self.assertLess(time.monotonic() - t0, 2.9, "the fetch is cut at attachment_timeout")
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM suggestions WHERE external_id='app-3002'")[0][0], 0)
        # https only unless allowed: a plain http URL is not fetched.
        body = json.dumps({"message_id": "app-3003", "content": "http 链接",
                           "attachments": [{"url": self.files.base + "/photo.jpg"}]}).encode()
        status, _, out = self.post(body, signed(body), path="/strict")
        self.assertEqual(status, 201)
        self.assertIn("https only", self.doc(out["id"])["extras"]["app"]["attachment_errors"][0]["error"])
        # Oversized inline data is refused outright.
        big = base64.b64encode(b"y" * (1100 * 1024)).decode()
        body = json.dumps({"message_id": "app-3004", "content": "大图", "attachments": [{"data_base64": big}]}).encode()
        status, _, out = self.post(body, signed(body))
        self.assertEqual((status, out["error"]["code"]), (413, "too_large"))

    def test_malformed_bodies_are_quarantined(self):
        q0 = self.d.query("SELECT COUNT(*) FROM quarantine")[0][0]
        for body, code in [(b'{"message_id": "x", "content": ', "malformed_json"),
                           (b'{"content": "no id"}', "missing_field"),
                           (b'{"message_id": "m", "content": "x", "extra": 1}', "unknown_field")]:
            status, _, out = self.post(body, signed(body))
            self.assertEqual((status, out["error"]["code"]), (400, code))
        wait_until(lambda: self.d.query("SELECT COUNT(*) FROM quarantine")[0][0] == q0 + 3, what="quarantined")
        body = json.dumps({"message_id": "ok-1", "content": "still serving"}).encode()
        self.assertEqual(self.post(body, signed(body))[0], 201)


if __name__ == "__main__":
    unittest.main()
