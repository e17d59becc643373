"""Bad input gets the right status and a JSON error; readable raw bytes are quarantined;
the daemon keeps serving."""

import json
import socket
import unittest

from harness import Minyid, sign, wait_until


def raw_request(port, data, timeout=10, shutdown=False):
    """Sends raw bytes and returns (status, raw response, parsed JSON body or None)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        if shutdown:
            s.shutdown(socket.SHUT_WR)
        return read_response(s)
    finally:
        s.close()


def read_response(s):
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    if not head:
        return None, buf, None
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        if line.lower().startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    while len(body) < length:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return status, head + b"\r\n\r\n" + body, parsed


class BadInputTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Minyid(
            channels=[{"name": "portal", "plugin": "web"},
                      {"name": "signed", "plugin": "web", "path": "/v1/signed", "secret": "k"}],
            minyi={"public": {"listen": "127.0.0.1:0", "body_limit": "64KiB", "header_limit": "8KiB",
                              "read_timeout": "1s", "max_connections_per_client": 6}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def assertError(self, result, status, code, field=None):
        got_status, _, body = result
        self.assertEqual(got_status, status, body)
        self.assertIsInstance(body, dict, "the error body is JSON")
        self.assertEqual(body["error"]["code"], code, body)
        self.assertTrue(body["error"]["message"])
        if field is not None:
            self.assertEqual(body["error"]["field"], field)

    def quarantined(self, raw):
        # Quarantine records are written without holding up the answer: wait for the commit.
        return wait_until(lambda: self.d.query("SELECT reason, content_type FROM quarantine WHERE bytes = ?", raw),
                          what="quarantine record")

    def test_malformed_json(self):
        raw = b'{"content": "broken'
        self.assertError(self.d.post(raw), 400, "malformed_json")
        [(reason, ctype)] = self.quarantined(raw)
        self.assertIn("malformed_json", reason)
        self.assertEqual(ctype, "application/json")

    def test_wrong_content_type(self):
        raw = "content=水管爆裂".encode()
        self.assertError(self.d.post(raw, content_type="text/plain"), 415, "unsupported_media_type")
        self.assertEqual(len(self.quarantined(raw)), 1)
        self.assertError(self.d.post(b'{"content":"x"}', content_type="application/json; charset=koi8-r"), 415,
                         "unsupported_charset")

    def test_invalid_utf8(self):
        raw = '{"content": "'.encode() + "噪音扰民".encode("gbk") + b'"}'
        self.assertError(self.d.post(raw), 400, "invalid_utf8")
        self.assertEqual(len(self.quarantined(raw)), 1)

    def test_missing_required_field(self):
        raw = json.dumps({"title": "只有标题"}, ensure_ascii=False).encode()
        self.assertError(self.d.post(raw), 400, "missing_field", "content")
        self.assertEqual(len(self.quarantined(raw)), 1)
        self.assertError(self.d.post({"content": "   "}), 400, "missing_field", "content")
        self.assertError(self.d.post({"content": "x", "submitted_at": "yesterday"}), 400, "invalid_value",
                         "submitted_at")
        self.assertError(self.d.post({"content": "x", "colour": "red"}), 400, "unknown_field", "colour")
        self.assertError(self.d.post({"content": 42}), 400, "wrong_type", "content")
        self.assertError(self.d.post([1, 2]), 400, "wrong_type")

    def test_bad_signature(self):
        raw = b'{"content":"signed"}'
        self.assertError(self.d.post(raw, path="/v1/signed", headers={"X-Minyi-Signature": sign("nope", raw)}),
                         401, "bad_signature")
        self.assertError(self.d.post(raw, path="/v1/signed", headers={"X-Minyi-Signature": "md5=abc"}),
                         401, "bad_signature")

    def test_oversized_body(self):
        big = json.dumps({"content": "长" * 40000}, ensure_ascii=False).encode()  # 120 KB
        self.assertError(self.d.post(big), 413, "body_too_large")
        # Announced small, but chunked and too big: the limit holds while reading.
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [big[i:i + 8192] for i in range(0, len(big), 8192)])
        req = (b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
        self.assertError(raw_request(self.d.port, req), 413, "body_too_large")

    def test_length_required(self):
        req = b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\r\n"
        self.assertError(raw_request(self.d.port, req), 411, "length_required")

    def test_malformed_request_and_huge_header(self):
        self.assertError(raw_request(self.d.port, b"THIS IS NOT HTTP\r\n\r\n"), 400, "bad_request")
        huge = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n"
        self.assertError(raw_request(self.d.port, huge), 431, "header_too_large")

    def test_unknown_path_and_wrong_method(self):
        self.assertError(self.d.post({"content": "x"}, path="/nope"), 404, "not_found")
        status, raw, body = raw_request(self.d.port, b"GET /v1/suggestions HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(status, 405)
        self.assertIn(b"Allow: POST", raw)

    def test_slowloris_gets_408(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            s.sendall(b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\n")
            tick = 0
            status = None
            # Dribble one header byte at a time; the server must cut us off after read_timeout.
            while tick < 100:
                try:
                    s.sendall(b"X")
                except OSError:
                    break
                s.settimeout(0.1)
                try:
                    status, _, body = read_response(s)
                    break
                except socket.timeout:
                    tick += 1
            self.assertEqual(status, 408)
            self.assertEqual(body["error"]["code"], "request_timeout")
        finally:
            s.close()

    def test_slow_body_gets_408(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            s.sendall(b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{\"content\":")
            status, _, body = read_response(s)
            self.assertEqual(status, 408)
            self.assertEqual(body["error"]["code"], "request_timeout")
        finally:
            s.close()

    def test_too_many_connections_from_one_client_get_429(self):
        held = [socket.create_connection(("127.0.0.1", self.d.port), timeout=10) for _ in range(6)]
        try:
            # Make sure the server has accepted all of them before the next one.
            for s in held:
                s.sendall(b"P")
            result = raw_request(self.d.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertError(result, 429, "too_many_connections")
            self.assertIn(b"Retry-After", result[1])
        finally:
            for s in held:
                s.close()
        wait_until(lambda: self.d.post({"content": "after the crowd left"})[0] == 201, what="service again")

    def test_keeps_serving_after_abuse(self):
        for _ in range(3):
            raw_request(self.d.port, b"\x00\xff garbage\r\n\r\n")
        status, _, body = self.d.post({"content": "服务仍然正常"})
        self.assertEqual(status, 201, body)
        # Keep-alive: several requests on one connection.
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            for i in range(3):
                payload = json.dumps({"content": f"keep-alive {i}"}).encode()
                s.sendall(b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n%s" % (len(payload), payload))
                status, _, body = read_response(s)
                self.assertEqual(status, 201, body)
        finally:
            s.close()

    def test_requests_are_read_whole_however_they_arrive(self):
        """Pipelined, chunked, split between header and body, header cut in two: every
        request is answered once, in order, and stored with its full content."""
        def request(text, chunked=False):
            payload = json.dumps({"content": text}, ensure_ascii=False).encode()
            if chunked:
                half = len(payload) // 2
                body = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, payload[:half], len(payload) - half,
                                                                   payload[half:])
                length = b"Transfer-Encoding: chunked"
            else:
                body, length = payload, b"Content-Length: %d" % len(payload)
            return (b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + length +
                    b"\r\n\r\n", body)

        def answers(s, n):
            buf, out = b"", []
            while len(out) < n:
                while b"\r\n\r\n" not in buf:
                    chunk = s.recv(65536)
                    self.assertTrue(chunk, "connection closed after %d answers" % len(out))
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += s.recv(65536)
                out.append((int(head.split()[1]), json.loads(buf[:length])))
                buf = buf[length:]
            return out

        texts = ["流水线请求一", "流水线请求二", "分块请求", "头和正文分开到达", "头分两次到达"]
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=10)
        try:
            s.sendall(b"".join(b"".join(request(t)) for t in texts[:2]) + b"".join(request(texts[2], chunked=True)))
            got = answers(s, 3)
            head, body = request(texts[3])
            s.sendall(head)
            s.sendall(body)  # usually a separate segment: the header is parsed before the body is there
            got += answers(s, 1)
            head, body = request(texts[4])
            s.sendall(head[:20])
            s.sendall(head[20:] + body)
            got += answers(s, 1)
        finally:
            s.close()
        self.assertEqual([status for status, _ in got], [201] * 5, got)
        ids = [body["id"] for _, body in got]
        self.assertEqual(len(set(ids)), 5)
        for sid, text in zip(ids, texts):
            rows = self.d.query("SELECT doc FROM suggestions WHERE id = ?", sid)
            self.assertEqual(json.loads(rows[0][0])["content"], text)


if __name__ == "__main__":
    unittest.main()
