"""Posted suggestions come out of the file sink and the HTTP sink as CloudEvents, with
Idempotency-Key and signature; replays give 200 and no second event."""

import json
import os
import re
import tempfile
import unittest

from harness import Minyid, Receiver, sign, wait_until

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


class DeliveryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.receiver = Receiver()
        cls.binary_receiver = Receiver()
        tmp = tempfile.mkdtemp(prefix="minyi-e2e-")
        cls.out = os.path.join(tmp, "out", "events.ndjson")
        cls.d = Minyid(
            tmp=tmp,
            channels=[{"name": "portal", "plugin": "web", "path": "/v1/suggestions"},
                      {"name": "signed", "plugin": "web", "path": "/v1/signed", "secret": "portal-secret"}],
            sinks=[{"name": "archive", "plugin": "file", "path": cls.out},
                   {"name": "cases", "plugin": "http", "url": cls.receiver.url, "secret": "downstream-secret",
                    "source": "/minyi/test"},
                   {"name": "cases-binary", "plugin": "http", "url": cls.binary_receiver.url, "mode": "binary"}])
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.receiver.close()
        cls.binary_receiver.close()

    def test_suggestions_reach_both_sinks_as_cloudevents(self):
        sent = {}
        for i in range(5):
            status, _, body = self.d.post({
                "title": f"夜间施工噪音 {i}", "content": f"幸福小区旁工地每天夜里施工到凌晨，噪音扰民。第{i}次反映。",
                "submitter": {"name": "张三", "phone": f"1380013800{i}", "id_number": f"11010519491231002{i}"},
                "location": {"text": "幸福小区", "lat": 30.75, "lon": 120.75},
                "submitted_at": "2026-11-27T09:30:11+08:00", "external_id": f"deliv-{i}"})
            self.assertEqual(status, 201, body)
            sent[body["id"]] = i
        ids = set(sent)
        wait_until(lambda: ids <= {e["subject"] for e in self.receiver.accepted()}, what="HTTP sink delivery")
        wait_until(lambda: ids <= {e["subject"] for e in self.d.file_events(self.out)}, what="file sink delivery")
        wait_until(lambda: len(self.binary_receiver.snapshot()) >= 5, what="binary-mode delivery")

        for req in self.receiver.snapshot():
            ev = json.loads(req["body"])
            if ev["subject"] not in ids:
                continue
            h = req["headers"]
            self.assertTrue(h["content-type"].startswith("application/cloudevents+json"))
            self.assertEqual(h["idempotency-key"], ev["id"])
            self.assertEqual(h["x-minyi-signature"], sign("downstream-secret", req["body"]))
            self.assertEqual(ev["specversion"], "1.0")
            self.assertEqual(ev["type"], "minyi.suggestion.created")
            self.assertEqual(ev["source"], "/minyi/test")
            self.assertEqual(ev["datacontenttype"], "application/json")
            self.assertRegex(ev["time"], RFC3339)
            data = ev["data"]
            self.assertEqual(data["schema"], "minyi.suggestion/1")
            self.assertEqual(data["id"], ev["subject"])
            self.assertEqual(data["channel"], "web")
            self.assertEqual(data["source"]["instance"], "portal")
            self.assertRegex(data["submitter"]["phone_masked"], r"^138\*\*\*\*800\d$")
            self.assertTrue(data["submitter"]["phone_hash"].startswith("hmac-sha256:"))
            self.assertNotRegex(req["body"].decode(), r"1380013800\d|11010519491231002\d")
            self.assertEqual(data["location"]["lat"], 30.75)
            self.assertRegex(data["received_at"], RFC3339)

        file_ids = {e["id"] for e in self.d.file_events(self.out)}
        http_ids = {e["id"] for e in self.receiver.accepted()}
        self.assertTrue({e["id"] for e in self.receiver.accepted() if e["subject"] in ids} <= file_ids,
                        "both sinks carry the same event ids")
        self.assertTrue(http_ids)

        for req in self.binary_receiver.snapshot():
            h = req["headers"]
            if h["ce-subject"] not in ids:
                continue  # cluster.updated events (these reports are about one place)
            self.assertEqual(h["ce-specversion"], "1.0")
            self.assertEqual(h["ce-type"], "minyi.suggestion.created")
            self.assertEqual(h["idempotency-key"], h["ce-id"])
            data = json.loads(req["body"])
            self.assertEqual(data["id"], h["ce-subject"])
            self.assertTrue(h["content-type"].startswith("application/json"))

    def test_replayed_external_id_gives_200_and_no_second_event(self):
        first = self.d.post({"content": "路灯坏了很久没人修", "external_id": "replay-1"})
        self.assertEqual(first[0], 201)
        again = self.d.post({"content": "路灯坏了很久没人修 (resent)", "external_id": "replay-1"})
        self.assertEqual(again[0], 200)
        self.assertEqual(again[2], {"id": first[2]["id"], "replay": True})
        # A later suggestion is a marker: once it arrives, anything the replay caused would have too.
        marker = self.d.post({"content": "marker", "external_id": "replay-marker"})[2]["id"]
        wait_until(lambda: marker in {e["subject"] for e in self.receiver.accepted()}, what="marker delivery")
        wait_until(lambda: marker in {e["subject"] for e in self.d.file_events(self.out)}, what="marker in file")
        for events in (self.receiver.accepted(), self.d.file_events(self.out)):
            self.assertEqual(sum(1 for e in events if e["subject"] == first[2]["id"]), 1)
        self.assertEqual(self.d.query("SELECT COUNT(*) FROM suggestions WHERE external_id='replay-1'")[0][0], 1)

    def test_declared_gbk_and_big5_bodies_are_decoded(self):
        body = json.dumps({"content": "小区门口的路灯坏了三个月", "submitter": {"name": "李四"}}, ensure_ascii=False)
        status, _, ok = self.d.post(body.encode("gbk"), content_type="application/json; charset=GBK")
        self.assertEqual(status, 201, ok)
        doc = json.loads(self.d.query("SELECT doc FROM suggestions WHERE id=?", ok["id"])[0][0])
        self.assertEqual(doc["content"], "小区门口的路灯坏了三个月")
        self.assertEqual(doc["source"]["charset"], "gb18030")
        self.assertNotIn("charset_replacements", doc["source"])
        form = "content=" + "".join(f"%{b:02X}" for b in "社區停車位不足".encode("big5"))
        status, _, ok = self.d.post(form, content_type="application/x-www-form-urlencoded; charset=big5")
        self.assertEqual(status, 201, ok)
        doc = json.loads(self.d.query("SELECT doc FROM suggestions WHERE id=?", ok["id"])[0][0])
        self.assertEqual((doc["content"], doc["source"]["charset"]), ("社區停車位不足", "big5"))

    def test_form_post_and_signed_channel(self):
        form = "title=%E8%B7%AF%E7%81%AF&content=%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE&submitter.phone=13900001111&location%5Blat%5D=30.5&location%5Blon%5D=120.1"
        status, _, body = self.d.post(form, content_type="application/x-www-form-urlencoded")
        self.assertEqual(status, 201, body)
        doc = json.loads(self.d.query("SELECT doc FROM suggestions WHERE id=?", body["id"])[0][0])
        self.assertEqual(doc["content"], "路灯不亮")
        self.assertEqual(doc["location"]["lat"], 30.5)
        self.assertEqual(doc["submitter"]["phone_masked"], "139****1111")

        payload = json.dumps({"content": "签名请求"}).encode()
        status, _, err = self.d.post(payload, path="/v1/signed")
        self.assertEqual(status, 401)
        self.assertEqual(err["error"]["code"], "signature_required")
        status, _, err = self.d.post(payload, path="/v1/signed", headers={"X-Minyi-Signature": sign("wrong", payload)})
        self.assertEqual(status, 401)
        self.assertEqual(err["error"]["code"], "bad_signature")
        status, _, ok = self.d.post(payload, path="/v1/signed",
                                    headers={"X-Minyi-Signature": sign("portal-secret", payload)})
        self.assertEqual(status, 201, ok)
        src = json.loads(self.d.query("SELECT doc FROM suggestions WHERE id=?", ok["id"])[0][0])["source"]
        self.assertEqual(src["instance"], "signed")
        raw = self.d.query("SELECT bytes FROM raw_payloads WHERE sha256=?", src["raw_sha256"])[0][0]
        self.assertEqual(raw, payload)


if __name__ == "__main__":
    unittest.main()
