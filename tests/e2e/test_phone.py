"""channel_phone end to end: a real HTTP server serving paged 12345 work orders (one page
fails once, one times out once), auth variants, kind filtering, kill -9 in the middle of a
page, and call-centre exports (GBK CSV with Chinese headers, JSON lines) in a spool folder."""

import base64
import json
import os
import threading
import unittest

from exports import drop, shared_messages, write_gbk_csv
from harness import Minyid, Origin, wait_until

KINDS = ["咨询", "求助", "投诉", "举报", "建议", "表扬", "其他"]
EN = {"咨询": "consultation", "求助": "help", "投诉": "complaint", "举报": "report", "建议": "suggestion",
      "表扬": "praise", "其他": "other"}


def orders(n, prefix="GD"):
    base = shared_messages(100)
    out = []
    for i in range(n):
        subject, _, detail = base[i % len(base)]
        out.append({"orderId": f"{prefix}2024{i:06d}", "callerPhone": f"1370000{i:04d}", "callerName": f"市民{i}",
                    "callTime": f"2024-03-{1 + i % 28:02d} {8 + i % 12:02d}:{i % 60:02d}:00",
                    "appealType": KINDS[i % 7], "content": f"{subject}（工单{i}）",
                    "textContent": detail[:200], "address": f"A市A{i % 7 + 1}区", "county": f"A{i % 7 + 1}区",
                    "urgency": "一般" if i % 5 else "紧急", "orderSeq": 7_000_000_000_000_000_001 + i,
                    "updateTime": f"2024-04-01 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}"})
    return out


class OrderApi(Origin):
    """GET /orders?pageSize=N&cursor=C -> {"code":0,"data":[…],"nextCursor":"…"} (cursor = offset);
    with ?since=T the orders updated at or after T, oldest first."""

    def __init__(self, data, fail_once=(), slow_once=(), slow_seconds=3.0, auth=None):
        self.data, self.fail_once, self.slow_once = data, set(fail_once), set(slow_once)
        self.requests, self.lock, self.hits = [], threading.Lock(), 0

        def answer(code, obj):
            return code, "application/json; charset=utf-8", json.dumps(obj, ensure_ascii=False).encode()

        def route(path, q, headers):
            with self.lock:
                self.hits += 1
            if auth and headers.get(auth[0]) != auth[1]:
                return answer(401, {"code": 401, "msg": "unauthorized"})
            size = int(q.get("pageSize", "100"))
            if "since" in q or q.get("mode") == "since":
                with self.lock:
                    self.requests.append(q.get("since", ""))
                newer = [o for o in self.data if o["updateTime"] >= q.get("since", "")]
                return answer(200, {"code": 0, "data": newer[:size]})
            offset = int(q.get("cursor", "0") or 0)
            with self.lock:
                self.requests.append(offset)
                fail, slow = offset in self.fail_once, offset in self.slow_once
                self.fail_once.discard(offset)
                self.slow_once.discard(offset)
            if fail:
                return answer(500, {"code": 500, "msg": "internal error"})
            if slow:
                self.release.wait(slow_seconds)
            nxt = str(offset + size) if offset + size < len(self.data) else ""
            return answer(200, {"code": 0, "data": self.data[offset:offset + size], "nextCursor": nxt,
                                "total": len(self.data)})

        super().__init__(route)
        self.url = self.base + "/orders"


def phone(name, url=None, **extra):
    c = {"name": name, "plugin": "phone", "poll_interval": "100ms", "rate_limit": 50, "timeout": "1s",
         "backoff_max": "1s"}
    if url:
        c["api_url"] = url
    c.update(extra)
    return c


def external_ids(d, inst):
    return [r[0] for r in d.query("SELECT external_id FROM suggestions WHERE instance=?", inst)]


class PhoneApiTest(unittest.TestCase):
    def test_paged_orders_with_a_failing_and_a_slow_page_are_ingested_exactly_once(self):
        data = orders(1000)
        api = OrderApi(data, fail_once={300}, slow_once={600})
        d = Minyid(channels=[phone("hotline", api.url, page_size=100)]).start()
        try:
            wait_until(lambda: len(external_ids(d, "hotline")) == 1000, timeout=60, what="1000 work orders")
            ids = external_ids(d, "hotline")
            self.assertEqual(sorted(ids), sorted(o["orderId"] for o in data))
            self.assertGreaterEqual(api.requests.count(300), 2, "the failed page was asked for again")
            self.assertGreaterEqual(api.requests.count(600), 2, "the timed-out page was asked for again")
            self.assertEqual(d.query("SELECT value FROM checkpoints WHERE instance='hotline' AND key='api_cursor'"),
                             [(b"900",)], "the cursor of the last page")
            doc = json.loads(d.query("SELECT doc FROM suggestions WHERE external_id=?", "GD2024000004")[0][0])
            self.assertEqual(doc["channel"], "phone")
            self.assertEqual(doc["kind"], "suggestion")
            self.assertEqual(doc["submitted_at"], "2024-03-05T12:04:00+08:00")
            self.assertEqual(doc["location"], {"text": "A市A5区", "district": "A5区"})
            self.assertEqual(doc["extras"]["phone"]["appeal_type"], "建议")
            self.assertTrue(doc["extras"]["phone"]["transcript"])
            self.assertNotIn("13700000004", json.dumps(doc))
            self.assertEqual(json.loads(d.query("SELECT bytes FROM raw_payloads r JOIN suggestions s ON "
                                                "s.raw_sha256=r.sha256 WHERE s.external_id='GD2024000004'")[0][0])
                             ["orderSeq"], 7_000_000_000_000_000_005, "64-bit numbers survive in the raw copy")
            self.assertIn("api_failures", d.admin("GET", "/metrics")[1])
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()
            api.close()

    def test_auth_variants_and_kind_filter(self):
        data = orders(70, prefix="AU")
        apis = {
            "bearer": OrderApi(data, auth=("Authorization", "Bearer s3cret")),
            "basic": OrderApi(data, auth=("Authorization", "Basic " + base64.b64encode(b"svc:pw").decode())),
            "header": OrderApi(data, auth=("X-Api-Key", "k-123")),
            "wrong": OrderApi(data, auth=("Authorization", "Bearer right")),
        }
        channels = [phone("p_bearer", apis["bearer"].url, auth="bearer", token="s3cret"),
                    phone("p_basic", apis["basic"].url, auth="basic", username="svc", password="pw"),
                    phone("p_header", apis["header"].url, auth="header", header_name="X-Api-Key", header_value="k-123",
                          kinds=["投诉", "suggestion"]),
                    phone("p_wrong", apis["wrong"].url, auth="bearer", token="wrong")]
        d = Minyid(channels=channels).start()
        try:
            for inst in ("p_bearer", "p_basic"):
                wait_until(lambda: len(external_ids(d, inst)) == 70, what=inst)
            wait_until(lambda: len(external_ids(d, "p_header")) == 20, what="only complaints and suggestions")
            kinds = {r[0] for r in d.query("SELECT json_extract(doc,'$.kind') FROM suggestions WHERE instance='p_header'")}
            self.assertEqual(kinds, {"complaint", "suggestion"})
            wait_until(lambda: apis["wrong"].hits >= 2, what="retries with backoff")
            self.assertEqual(external_ids(d, "p_wrong"), [])
            self.assertIn("HTTP 401", d.log())
            self.assertNotIn("s3cret", d.log())
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()
            for a in apis.values():
                a.close()

    def test_since_paging(self):
        data = orders(250, prefix="SN")
        api = OrderApi(data)
        d = Minyid(channels=[phone("hotline", api.url + "?mode=since", paging="since", page_size=100,
                                   since_field="updateTime")]).start()
        try:
            wait_until(lambda: len(external_ids(d, "hotline")) == 250, what="250 orders by time")
            self.assertEqual(d.query("SELECT COUNT(DISTINCT external_id) FROM suggestions")[0][0], 250)
            self.assertEqual(d.query("SELECT value FROM checkpoints WHERE instance='hotline' AND key='api_since'"),
                             [(data[-1]["updateTime"].encode(),)])
            self.assertEqual(api.requests[:3], ["", data[99]["updateTime"], data[198]["updateTime"]])
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()
            api.close()

    def test_kill9_in_the_middle_of_a_page(self):
        data = orders(3000)
        api = OrderApi(data)
        d = Minyid(channels=[phone("hotline", api.url, page_size=1000)]).start()
        try:
            wait_until(lambda: len(external_ids(d, "hotline")) >= 1300, timeout=60, what="second page under way")
            d.kill9()
            mid = len(external_ids(d, "hotline"))
            self.assertLess(mid, 3000)
            d.start()
            wait_until(lambda: len(external_ids(d, "hotline")) == 3000, timeout=120, what="all orders")
            n, distinct = d.query("SELECT COUNT(*), COUNT(DISTINCT external_id) FROM suggestions")[0]
            self.assertEqual((n, distinct), (3000, 3000))
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()
            api.close()


class PhoneExportTest(unittest.TestCase):
    def test_gbk_csv_with_chinese_headers_and_json_lines(self):
        data = orders(50, prefix="EX")
        tmp = Minyid().tmp
        folder = os.path.join(tmp, "exports")
        d = Minyid(tmp=tmp, channels=[phone("hotline_files", spool_dir=folder, settle="200ms")]).start()
        try:
            header = ["工单编号", "来电号码", "来电人", "来电时间", "诉求类型", "诉求内容", "事发地址", "所属区县", "录音转写",
                      "紧急程度"]
            keys = ["orderId", "callerPhone", "callerName", "callTime", "appealType", "content", "address", "county",
                    "textContent", "urgency"]
            rows = [[o[k] for k in keys] for o in data[:25]]
            rows[3][3] = "2024-02-30 10:00:00"
            drop(folder, "12345导出.csv", write_gbk_csv, header, rows)

            def jsonl(path):
                with open(path, "w", encoding="utf-8") as f:
                    for o in data[25:]:
                        f.write(json.dumps(o, ensure_ascii=False) + "\n")
                    f.write("{not json\n")

            drop(folder, "export.jsonl", jsonl)
            wait_until(lambda: os.path.exists(os.path.join(folder, "processed", "export.jsonl")), what="jsonl")
            wait_until(lambda: os.path.exists(os.path.join(folder, "processed", "12345导出.csv")), what="csv")
            with open(os.path.join(folder, "processed", "12345导出.csv.report.json"), encoding="utf-8") as f:
                r = json.load(f)
            self.assertEqual((r["ingested"], r["bad_rows"], r["charset"]), (24, 1, "gb18030"))
            self.assertEqual(r["bad"][0]["row"], 5)
            with open(os.path.join(folder, "processed", "export.jsonl.report.json"), encoding="utf-8") as f:
                r = json.load(f)
            self.assertEqual((r["ingested"], r["bad_rows"]), (25, 1))
            ids = sorted(external_ids(d, "hotline_files"))
            self.assertEqual(len(ids), 49)
            doc = json.loads(d.query("SELECT doc FROM suggestions WHERE external_id='EX2024000000'")[0][0])
            self.assertEqual((doc["kind"], doc["submitted_at"]), ("consultation", "2024-03-01T08:00:00+08:00"))
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
