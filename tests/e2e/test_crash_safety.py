"""kill -9 at random moments while many clients post: every acknowledged suggestion
survives, reaches both sinks at least once, and no event id is ever delivered with
different content."""

import http.client
import json
import os
import random
import tempfile
import threading
import unittest

from harness import Minyid, Receiver, wait_until


class CrashSafetyTest(unittest.TestCase):
    def test_kill9_during_concurrent_posting_loses_nothing_acknowledged(self):
        receiver = Receiver()
        tmp = tempfile.mkdtemp(prefix="minyi-crash-")
        out = os.path.join(tmp, "out", "events.ndjson")
        d = Minyid(tmp=tmp, minyi={"journal": {"synchronous": "FULL"}},
                   sinks=[{"name": "archive", "plugin": "file", "path": out, "fsync": "batch"},
                          {"name": "cases", "plugin": "http", "url": receiver.url, "backoff_initial": "50ms",
                           "backoff_max": "200ms"}])
        d.start()
        acked = {}  # external_id -> suggestion id
        lock = threading.Lock()
        stop = threading.Event()
        port = {"value": d.port}

        def poster(worker):
            n = 0
            while not stop.is_set():
                ext = f"w{worker}-{n}"
                body = json.dumps({"content": f"第{worker}号市民第{n}条建议：小区门口道路积水严重",
                                   "external_id": ext, "submitter": {"phone": f"1380013{worker:04d}"}},
                                  ensure_ascii=False).encode()
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", port["value"], timeout=10)
                    conn.request("POST", "/v1/suggestions", body=body, headers={"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    data = resp.read()
                    conn.close()
                except (OSError, http.client.HTTPException):
                    stop.wait(0.01)  # daemon is down: try the same message again shortly
                    continue
                if resp.status in (200, 201):
                    sid = json.loads(data)["id"]
                    with lock:
                        if ext in acked:
                            self.assertEqual(acked[ext], sid, "a replay must return the original id")
                        acked[ext] = sid
                    n += 1
                elif resp.status != 503:
                    self.fail(f"unexpected status {resp.status}: {data[:200]}")

        threads = [threading.Thread(target=poster, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        rng = random.Random(1234)
        try:
            for _ in range(5):
                threading.Event().wait(rng.uniform(0.2, 0.9))  # a random moment to crash at
                d.kill9()
                d.start()
                port["value"] = d.port
            wait_until(lambda: len(acked) > 200, 60, "some acknowledged suggestions")
        finally:
            stop.set()
            for t in threads:
                t.join()

        # One more crash after the posters stopped, then a clean run to deliver everything.
        d.kill9()
        d.start()
        ids = set(acked.values())
        stored = {r[0] for r in d.query("SELECT id FROM suggestions")}
        self.assertTrue(ids <= stored, f"{len(ids - stored)} acknowledged suggestion(s) missing from the journal")
        self.assertEqual(len(stored), len({r[0] for r in d.query("SELECT external_id FROM suggestions")}),
                         "one suggestion per external id")

        wait_until(lambda: ids <= {e["subject"] for e in receiver.accepted()}, 120, "HTTP sink to catch up")
        wait_until(lambda: ids <= {e["subject"] for e in d.file_events(out)}, 120, "file sink to catch up")

        for events in (receiver.accepted(), d.file_events(out)):
            seen = {}
            for e in events:
                body = json.dumps(e, sort_keys=True)
                self.assertEqual(seen.setdefault(e["id"], body), body, f"event {e['id']} changed content")
        self.assertEqual(d.terminate(), 0)
        receiver.close()


if __name__ == "__main__":
    unittest.main()
