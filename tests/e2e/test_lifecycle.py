"""SIGTERM drains and exits 0 without losing acknowledged work; logs carry journald
priorities under systemd and never message bodies or raw phone/ID numbers."""

import http.client
import json
import os
import tempfile
import threading
import unittest

from harness import Minyid, Receiver, wait_until


class LifecycleTest(unittest.TestCase):
    def test_sigterm_while_posting_and_delivering(self):
        def slow(n, body):
            threading.Event().wait(0.01)  # a slow downstream, so deliveries are in progress
            return 200, {}, b"ok"

        receiver = Receiver(slow)
        tmp = tempfile.mkdtemp(prefix="minyi-life-")
        d = Minyid(tmp=tmp, sinks=[{"name": "cases", "plugin": "http", "url": receiver.url}]).start()
        acked, lock, stop = [], threading.Lock(), threading.Event()
        port = d.port

        def poster(w):
            n = 0
            while not stop.is_set():
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    body = json.dumps({"content": f"关停测试 {w}-{n}"}, ensure_ascii=False).encode()
                    conn.request("POST", "/v1/suggestions", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    conn.close()
                except (OSError, http.client.HTTPException):
                    return  # the listener is gone
                if resp.status == 201:
                    with lock:
                        acked.append(json.loads(data)["id"])
                n += 1

        threads = [threading.Thread(target=poster, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        wait_until(lambda: len(acked) >= 50 and len(receiver.snapshot()) >= 3, what="traffic")
        code = d.terminate()
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(code, 0, d.log())
        self.assertIn("minyid stopped cleanly", d.log())
        stored = {r[0] for r in d.query("SELECT id FROM suggestions")}
        self.assertTrue(set(acked) <= stored)
        # What was not delivered before the stop is delivered after the restart.
        d.start()
        wait_until(lambda: set(acked) <= {e["subject"] for e in receiver.accepted()}, 60, what="delivery")
        self.assertEqual(d.terminate(), 0)
        receiver.close()

    def test_journald_prefixes_and_no_pii_in_logs(self):
        d = Minyid(minyi={"log": {"level": "debug"}}).start(env={"JOURNAL_STREAM": "8:12345"})
        phone, idno, text = "13912345678", "330102199001011234", "我家楼下的烧烤摊每晚营业到三点"
        status, _, body = d.post({"content": text, "submitter": {"phone": phone, "id_number": idno}})
        self.assertEqual(status, 201)
        d.post(b'{"content": "' + text.encode() + b'", broken', content_type="application/json")
        d.post({"content": text, "submitter": {"phone": "12"}})  # rejected: too short
        self.assertEqual(d.terminate(), 0)
        log = d.log()
        lines = [l for l in log.splitlines() if l]
        self.assertTrue(lines)
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>", "every line carries a journald priority")
        self.assertTrue(any(l.startswith("<6>") for l in lines))
        for secret in (phone, idno, text, "烧烤摊"):
            self.assertNotIn(secret, log)
        self.assertIn(body["id"], log, "ids are logged instead of content")


if __name__ == "__main__":
    unittest.main()
