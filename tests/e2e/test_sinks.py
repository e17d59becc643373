"""Sink options: file rotation, HTTP batch mode, Retry-After, extra headers."""

import glob
import json
import os
import subprocess
import tempfile
import unittest

from harness import Minyid, Receiver, wait_until


class SinkOptionsTest(unittest.TestCase):
    def test_file_sink_rotates_by_size_and_keeps_max_files(self):
        tmp = tempfile.mkdtemp(prefix="minyi-rot-")
        out = os.path.join(tmp, "out", "events.ndjson")
        d = Minyid(tmp=tmp, sinks=[{"name": "archive", "plugin": "file", "path": out, "max_size": "4KiB",
                                    "max_files": 3, "fsync": "always"}]).start()
        try:
            ids = [d.post({"content": "公交线路调整建议" * 20, "external_id": f"rot-{i}"})[2]["id"] for i in range(30)]
            wait_until(lambda: d.query("SELECT seq FROM sink_cursors WHERE sink='archive'") == [(30,)],
                       what="all events written")
            files = sorted(glob.glob(out + "*"))
            self.assertEqual(files, [out, out + ".1", out + ".2", out + ".3"])
            kept = []
            for f in [out + ".3", out + ".2", out + ".1", out]:
                self.assertLessEqual(os.path.getsize(f), 4096)
                with open(f, encoding="utf-8") as fh:
                    kept += [json.loads(line)["subject"] for line in fh]
            # The newest events survive, in order, each exactly once; the oldest were rotated away.
            self.assertEqual(kept, ids[len(ids) - len(kept):])
            self.assertLess(len(kept), 30)
        finally:
            d.stop()

    def test_file_sink_rotates_inside_a_batch(self):
        # Events journaled before the sink existed reach it in batches of many; lines are
        # written once per batch, and a rotation in the middle of a batch still keeps every
        # file under max_size and every event once, in order.
        tmp = tempfile.mkdtemp(prefix="minyi-rotb-")
        out = os.path.join(tmp, "out", "events.ndjson")
        d = Minyid(tmp=tmp).start()
        try:
            ids = [d.post({"content": "路灯维修建议" * 25, "external_id": f"rotb-{i}"})[2]["id"] for i in range(40)]
        finally:
            d.stop()
        d = Minyid(tmp=tmp, sinks=[{"name": "archive", "plugin": "file", "path": out, "max_size": "8KiB",
                                    "max_files": 20, "fsync": "batch", "batch_max": 50}]).start()
        try:
            wait_until(lambda: d.query("SELECT seq FROM sink_cursors WHERE sink='archive'") == [(40,)],
                       what="all events written")
            files = [out + f".{i}" for i in range(20, 0, -1) if os.path.exists(out + f".{i}")] + [out]
            self.assertGreater(len(files), 3, "the batch was rotated more than once")
            kept = []
            for f in files:
                self.assertLessEqual(os.path.getsize(f), 8192)
                with open(f, encoding="utf-8") as fh:
                    kept += [json.loads(line)["subject"] for line in fh]
            self.assertEqual(kept, ids)
        finally:
            d.stop()

    def test_file_sink_on_a_full_disk_delivers_nothing_and_keeps_the_events(self):
        # /dev/full refuses every write with ENOSPC: the sink answers RETRY, its cursor stays
        # put with the error recorded, and intake and the other sink go on.
        tmp = tempfile.mkdtemp(prefix="minyi-full-")
        d = Minyid(tmp=tmp, sinks=[{"name": "full", "plugin": "file", "path": "/dev/full", "fsync": "batch"},
                                   {"name": "archive", "plugin": "file",
                                    "path": os.path.join(tmp, "out", "events.ndjson")}]).start()
        try:
            for i in range(5):
                self.assertEqual(d.post({"content": f"磁盘已满 {i}"})[0], 201)
            wait_until(lambda: d.query("SELECT seq FROM sink_cursors WHERE sink='archive'") == [(5,)],
                       what="the other sink")
            row = wait_until(lambda: d.query("SELECT seq, attempts, last_error FROM sink_cursors WHERE sink='full' "
                                             "AND attempts > 0") or None, what="the failed attempt")
            seq, attempts, last_error = row[0]
            self.assertEqual(seq, 0)
            self.assertIn("No space left on device", last_error)
            self.assertEqual(d.query("SELECT COUNT(*) FROM dead_letters"), [(0,)])
        finally:
            d.stop()

    def test_http_batch_mode(self):
        # The first request fails, so the events posted meanwhile pile up into one batch.
        receiver = Receiver(lambda n, body: (503, {"Retry-After": "1"}, b"") if n == 0 else (200, {}, b"ok"))
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": receiver.url, "mode": "batch",
                           "batch_max": 50, "headers": {"Authorization": "Bearer t0ken"}}])
        d.start()
        try:
            ids = [d.post({"content": f"批量投递 {i}"})[2]["id"] for i in range(10)]
            wait_until(lambda: sum(len(e) for e in receiver.accepted()) >= 10, what="batches")
            got = []
            for r in receiver.snapshot()[1:]:
                self.assertTrue(r["headers"]["content-type"].startswith("application/cloudevents-batch+json"))
                self.assertEqual(r["headers"]["authorization"], "Bearer t0ken")
                self.assertEqual(r["headers"]["idempotency-key"], r["json"][0]["id"])
                got += [e["subject"] for e in r["json"]]
            self.assertEqual(got, ids)
            self.assertLessEqual(len(receiver.snapshot()), 3, "events were batched")
        finally:
            d.stop()
            receiver.close()

    def test_retry_after_is_honoured(self):
        def policy(n, body):
            return (429, {"Retry-After": "1"}, b"slow down") if n == 0 else (200, {}, b"ok")

        receiver = Receiver(policy)
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": receiver.url, "backoff_initial": "10ms",
                           "backoff_max": "20ms"}]).start()
        try:
            d.post({"content": "限流测试"})
            wait_until(lambda: len(receiver.accepted()) == 1, what="delivery after Retry-After")
            reqs = receiver.snapshot()
            self.assertEqual(len(reqs), 2)
            self.assertGreaterEqual(reqs[1]["time"] - reqs[0]["time"], 0.95)
        finally:
            d.stop()
            receiver.close()

    def test_https_with_own_ca_and_verification(self):
        tmp = tempfile.mkdtemp(prefix="minyi-tls-")
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        receiver = Receiver(tls=(cert, key))
        self.assertTrue(receiver.url.startswith("https://"))
        d = Minyid(sinks=[
            {"name": "trusting", "plugin": "http", "url": receiver.url, "ca_file": cert},
            {"name": "strict", "plugin": "http", "url": receiver.url, "backoff_initial": "50ms",
             "backoff_max": "100ms"}]).start()
        try:
            sid = d.post({"content": "加密传输"})[2]["id"]
            wait_until(lambda: sid in {e["subject"] for e in receiver.accepted()}, what="delivery over TLS")
            # Without the CA the certificate is not trusted: retried, never delivered.
            err = wait_until(lambda: (c := d.query("SELECT attempts, last_error FROM sink_cursors WHERE sink='strict'"))
                             and c[0][0] >= 1 and c[0][1], what="verification failure")
            self.assertIn("network error", err)
            self.assertEqual(len(receiver.accepted()), 1)
        finally:
            d.stop()
            receiver.close()

    def test_expect_100_continue(self):
        import socket
        d = Minyid().start()
        try:
            body = json.dumps({"content": "大请求体" * 400}, ensure_ascii=False).encode()
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            s.sendall(b"POST /v1/suggestions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue"))
            s.sendall(body)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 201"))
            s.close()
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
