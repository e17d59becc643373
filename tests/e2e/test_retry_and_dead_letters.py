"""A failing downstream delays only itself: retries with backoff, in order; permanent
rejections and exhausted retries go to dead letters with the reason."""

import os
import tempfile
import threading
import unittest

from harness import Minyid, Receiver, wait_until


class RetryTest(unittest.TestCase):
    def test_503_then_recovery_delivers_everything_in_order_without_delaying_the_file_sink(self):
        failing = threading.Event()
        failing.set()

        def policy(n, body):
            if failing.is_set():
                return 503, {"Retry-After": "0"}, b'{"error":"maintenance"}'
            return 200, {}, b"ok"

        receiver = Receiver(policy)
        tmp = tempfile.mkdtemp(prefix="minyi-retry-")
        out = os.path.join(tmp, "events.ndjson")
        d = Minyid(tmp=tmp, sinks=[
            {"name": "archive", "plugin": "file", "path": out},
            {"name": "cases", "plugin": "http", "url": receiver.url, "backoff_initial": "20ms",
             "backoff_max": "100ms", "max_attempts": 0, "batch_max": 4}]).start()
        try:
            ids = [d.post({"content": f"排水沟堵塞第{i}处", "external_id": f"r-{i}"})[2]["id"] for i in range(12)]
            # The file sink gets everything while the HTTP receiver is still failing.
            wait_until(lambda: [e["subject"] for e in d.file_events(out)] == ids, what="file sink")
            self.assertEqual(receiver.accepted(), [])
            wait_until(lambda: len(receiver.snapshot()) >= 5, what="several retries")
            cursor = d.query("SELECT seq, attempts, last_error FROM sink_cursors WHERE sink='cases'")
            self.assertEqual(cursor[0][0], 0)
            self.assertGreaterEqual(cursor[0][1], 1)
            self.assertIn("HTTP 503", cursor[0][2])
            failing.clear()
            wait_until(lambda: len(receiver.accepted()) >= 12, what="recovery")
            delivered = [e["subject"] for e in receiver.accepted()]
            first_seen = list(dict.fromkeys(delivered))
            self.assertEqual(first_seen, ids, "in order per sink")
            self.assertEqual(d.query("SELECT COUNT(*) FROM dead_letters")[0][0], 0)
        finally:
            d.stop()
            receiver.close()

    def test_400_goes_to_dead_letters_with_status_and_body_excerpt(self):
        receiver = Receiver(lambda n, body: (400, {"Content-Type": "application/json"},
                                             b'{"error":"field category.code is not known here"}'))
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": receiver.url}]).start()
        try:
            a = d.post({"content": "公交站台破损"})[2]["id"]
            b = d.post({"content": "公园厕所无人打扫"})[2]["id"]
            rows = wait_until(lambda: (r := d.query(
                "SELECT e.subject, dl.reason, dl.attempts FROM dead_letters dl JOIN events e ON e.seq = dl.event_seq "
                "WHERE dl.sink='cases' ORDER BY dl.event_seq")) and len(r) == 2 and r, what="dead letters")
            self.assertEqual([r[0] for r in rows], [a, b])
            for _, reason, attempts in rows:
                self.assertIn("HTTP 400", reason)
                self.assertIn("category.code is not known", reason)
                self.assertEqual(attempts, 1)
            self.assertEqual(len(receiver.snapshot()), 2, "a rejected event is not retried")
            self.assertEqual(d.query("SELECT seq FROM sink_cursors WHERE sink='cases'")[0][0], 2)
        finally:
            d.stop()
            receiver.close()

    def test_exhausted_retries_go_to_dead_letters_and_later_events_flow(self):
        def policy(n, body):
            return (503, {}, b"down") if b"poison" in body else (200, {}, b"ok")

        receiver = Receiver(policy)
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": receiver.url, "max_attempts": 3,
                           "backoff_initial": "10ms", "backoff_max": "20ms"}]).start()
        try:
            bad = d.post({"content": "poison message"})[2]["id"]
            good = d.post({"content": "正常的建议"})[2]["id"]
            wait_until(lambda: good in {e["subject"] for e in receiver.accepted()}, what="later event delivered")
            reason = d.query("SELECT reason, attempts FROM dead_letters")[0]
            self.assertIn("gave up after 3 attempt(s)", reason[0])
            self.assertIn("HTTP 503", reason[0])
            self.assertEqual(reason[1], 3)
            self.assertEqual(sum(1 for r in receiver.snapshot() if bad.encode() in r["body"]), 3)
        finally:
            d.stop()
            receiver.close()

    def test_max_age_sends_a_failing_event_to_dead_letters(self):
        receiver = Receiver(lambda n, body: (500, {}, b"internal error"))
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": receiver.url, "max_attempts": 0,
                           "max_age": "400ms", "backoff_initial": "50ms", "backoff_max": "100ms"}]).start()
        try:
            d.post({"content": "一直失败的事件"})
            row = wait_until(lambda: d.query("SELECT reason, attempts FROM dead_letters"), what="dead letter by age")
            self.assertRegex(row[0][0], r"gave up after \d+ attempt\(s\) over \d+ s: HTTP 500: internal error")
            self.assertGreaterEqual(row[0][1], 2)
        finally:
            d.stop()
            receiver.close()

    def test_unreachable_sink_is_retried_until_it_comes_up(self):
        # Nothing listens on the port at first: network errors are RETRY, never dead letters.
        receiver = Receiver()
        url = receiver.url
        receiver.close()
        d = Minyid(sinks=[{"name": "cases", "plugin": "http", "url": url, "backoff_initial": "20ms",
                           "backoff_max": "50ms", "connect_timeout": "1s"}]).start()
        try:
            sid = d.post({"content": "网络恢复后应送达"})[2]["id"]
            wait_until(lambda: (c := d.query("SELECT attempts, last_error FROM sink_cursors WHERE sink='cases'"))
                       and c[0][0] >= 2 and "network error" in c[0][1], what="network failures recorded")
            self.assertEqual(d.query("SELECT COUNT(*) FROM dead_letters")[0][0], 0)
        finally:
            d.stop()
        # Restart with the journal intact against a live receiver: the event is delivered.
        receiver = Receiver()
        d2 = Minyid(tmp=d.tmp, sinks=[{"name": "cases", "plugin": "http", "url": receiver.url}]).start()
        try:
            wait_until(lambda: sid in {e["subject"] for e in receiver.accepted()}, what="delivery after restart")
        finally:
            d2.stop()
            receiver.close()


if __name__ == "__main__":
    unittest.main()
