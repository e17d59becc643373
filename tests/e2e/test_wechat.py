"""channel_wechat end to end through the real minyid: URL verification, plain / compatible /
safe / WeCom modes, conversation assembly, retries, restarts, 200 citizens at once, and
bad input. The client (wechat_client.py) speaks the protocol as WeChat's servers do."""

import concurrent.futures
import json
import os
import time
import unittest

from harness import SHARED, Minyid, wait_until
from wechat_client import Account, encrypt, event_xml, image_xml, location_xml, sha1_sorted, text_xml

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # non-canonical last char, as in Tencent's sample
WECOM_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
REPLY = "您的建议已收到，编号 {ref}"


def instance(name, path, mode="safe", quiet="0s", **extra):
    c = {"name": name, "plugin": "wechat", "path": path, "token": "tok-" + name, "mode": mode,
         "quiet_period": quiet, "reply": REPLY}
    if mode != "plain":
        c.update({"encoding_aes_key": KEY, "app_id": "wx_app_" + name})
    c.update(extra)
    return c


def account(d, c):
    return Account(d.port, c["path"], c["token"], c.get("encoding_aes_key"), c.get("app_id"), c.get("mode", "safe"),
                   c.get("platform", "mp"))


def docs(d, instance_name=None):
    rows = d.query("SELECT doc FROM suggestions" + (" WHERE instance=?" if instance_name else "") + " ORDER BY rowid",
                   *([instance_name] if instance_name else []))
    return [json.loads(r[0]) for r in rows]


def pending_parts(d, inst, openid):
    """Messages of an open conversation, from the checkpoint that keeps them durable."""
    rows = d.query("SELECT value FROM checkpoints WHERE instance=? AND key=?", inst, "conv/" + openid)
    return len(json.loads(rows[0][0])["parts"]) if rows else 0


def counter(d, inst, name):
    status, text = d.admin("GET", "/metrics")
    key = f'minyi_plugin_counter{{instance="{inst}",name="{name}"}} '
    for line in text.splitlines():
        if line.startswith(key):
            return int(line[len(key):])
    return 0


class WeChatModesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cfg = {
            "plain": instance("wx_plain", "/wx/plain", mode="plain"),
            "compatible": instance("wx_compat", "/wx/compat", mode="compatible"),
            "safe": instance("wx_safe", "/wx/safe", mode="safe"),
            "wecom": {"name": "wx_corp", "plugin": "wechat", "path": "/wx/corp", "platform": "wecom",
                      "token": "QDG6eK", "encoding_aes_key": WECOM_KEY, "app_id": "wx5823bf96d3bd56c7",
                      "agent_id": "1000002", "quiet_period": "0s", "reply": REPLY},
            # Tencent's own WeCom sample URL (timestamp 2014): window 0 disables the age check.
            "sample": {"name": "wx_sample", "plugin": "wechat", "path": "/wx/sample", "platform": "wecom",
                       "token": "QDG6eK", "encoding_aes_key": WECOM_KEY, "app_id": "wx5823bf96d3bd56c7",
                       "timestamp_window": "0s"},
        }
        cls.d = Minyid(channels=list(cls.cfg.values())).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def test_url_verification(self):
        for mode in ("plain", "safe", "wecom"):
            a = account(self.d, self.cfg[mode])
            status, body, plain = a.verify_url()
            self.assertEqual((status, body), (200, plain), mode)
            status, body, _ = a.verify_url(tamper=True)
            self.assertEqual(status, 403, mode)
            status, body, _ = a.verify_url(timestamp=int(time.time()) - 3600)
            self.assertEqual(status, 403, f"{mode}: an hour-old timestamp is a replay")

    def test_wecom_verify_url_with_tencents_sample(self):
        vec = json.load(open(os.path.join(SHARED, "testdata/wechat/wechat_vectors.json")))[
            "wecom_official_sample_verify_url"]
        a = account(self.d, self.cfg["sample"])
        # The echostr arrives URL-encoded (%2B, %2F, %3D) exactly as in the sample's GET line.
        target = (f"/wx/sample?msg_signature={vec['msg_signature']}&timestamp={vec['timestamp']}&nonce={vec['nonce']}"
                  f"&echostr={vec['echostr_urlencoded_in_sample_comment']}")
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=5)
        conn.request("GET", target)
        resp = conn.getresponse()
        self.assertEqual((resp.status, resp.read().decode()), (200, vec["decrypted"]["msg"]))

    def test_each_mode_stores_a_message_and_replies(self):
        for i, mode in enumerate(("plain", "compatible", "safe", "wecom")):
            c = self.cfg[mode]
            a = account(self.d, c)
            msg_id = str(7000000000000000000 + i)  # > 2^53
            xml = text_xml(f"user-{mode}", f"{mode} 模式：小区门口路灯坏了", msg_id, agent_id="1000002")
            status, reply, waited = a.send(xml)
            self.assertEqual(status, 200, (mode, reply))
            self.assertEqual(reply, f"您的建议已收到，编号 {msg_id}", mode)
            self.assertLess(waited, 5.0)
            got = wait_until(lambda: [x for x in docs(self.d, c["name"]) if x["source"].get("external_id") == msg_id],
                             what=f"{mode} suggestion")
            self.assertEqual(len(got), 1, mode)
            doc = got[0]
            self.assertEqual(doc["channel"], "wechat")
            self.assertEqual(doc["content"], f"{mode} 模式：小区门口路灯坏了")
            self.assertEqual(doc["source"]["external_id"], msg_id)
            self.assertIn("wechat_openid_hash", json.dumps(doc["submitter"]))
            self.assertNotIn(f"user-{mode}", json.dumps(doc), "the openid is stored only as a keyed hash")

    def test_plain_request_refused_in_safe_mode_and_vice_versa(self):
        safe = account(self.d, self.cfg["safe"])
        q, body = safe.envelope(text_xml("u", "hi", "1"), encrypted=False)
        self.assertEqual(safe.post_raw(q, body)[0], 403)
        plain = account(self.d, self.cfg["plain"])
        plain.key, plain.app_id = safe.key, "x"
        q, body = plain.envelope(text_xml("u", "hi", "2"), encrypted=True)
        self.assertEqual(plain.post_raw(q, body)[0], 403)

    def test_all_shared_samples(self):
        """The 24 sample XMLs from WeChat libraries' test suites, as plain-mode callbacks.
        As published, several reuse MsgId 1234567890123456 from the same user: by protocol
        those are retries of one message, stored once. A second pass gives each a fresh
        MsgId so every message type goes through the daemon."""
        import re

        c = self.cfg["plain"]
        a = account(self.d, c)
        index = json.load(open(os.path.join(SHARED, "testdata/wechat/samples/INDEX.json")))
        samples = [(e["file"], open(os.path.join(SHARED, "testdata/wechat/samples", e["file"]),
                                    encoding="utf-8").read()) for e in index]
        self.assertEqual(len(samples), 24)
        before = len(docs(self.d, c["name"]))
        refs = {}
        for name, xml in samples:
            status, reply, _ = a.send(xml)
            self.assertEqual(status, 200, name)
            if "<MsgType><![CDATA[event]]>" in xml:
                self.assertEqual(reply, "success", name)
                continue
            self.assertTrue(reply.startswith("您的建议已收到"), name)
            key = (re.search(r"<FromUserName><!\[CDATA\[(.*?)\]\]>", xml).group(1),
                   re.search(r"<MsgId>(\d+)</MsgId>", xml).group(1))
            refs.setdefault(key, reply)
            self.assertEqual(reply, refs[key], f"{name}: a repeated MsgId is answered as the same message")
        self.assertEqual(len(refs), 7)
        wait_until(lambda: len(docs(self.d, c["name"])) == before + 7, what="7 distinct sample messages")
        # Events are channel activity, counted once per FromUserName+CreateTime+Event.
        self.assertEqual(counter(self.d, c["name"], "event_subscribe"), 2)
        self.assertEqual(counter(self.d, c["name"], "event_location"), 2)
        self.assertEqual(counter(self.d, c["name"], "event_scan"), 2)
        self.assertEqual(counter(self.d, c["name"], "event_unsubscribe"), 1)

        before = len(docs(self.d, c["name"]))
        messages = [(n, x) for n, x in samples if "<MsgType><![CDATA[event]]>" not in x]
        for i, (name, xml) in enumerate(messages):
            fresh = re.sub(r"<MsgId>\d+</MsgId>", f"<MsgId>{5000000000000000000 + i}</MsgId>", xml)
            self.assertEqual(a.send(fresh)[0], 200, name)
        got = wait_until(lambda: (lambda x: x if len(x) == before + 13 else None)(docs(self.d, c["name"])),
                         what="one suggestion per sample message")
        by_type = {}
        for x in got[before:]:
            by_type.setdefault(x["extras"]["wechat"]["message_types"][0], []).append(x)
        self.assertEqual(sorted(by_type), ["image", "link", "location", "shortvideo", "text", "video", "voice"])
        voices = {v["content"]: v for v in by_type["voice"]}
        self.assertIn("傻逼！", voices, "Recognition becomes the content")
        untranscribed = [v for v in by_type["voice"] if v["extras"]["wechat"]["needs_transcription"]]
        self.assertEqual(len(untranscribed), 1, "a voice message without Recognition is flagged")
        self.assertTrue(untranscribed[0]["attachments"][0]["uri"].startswith("wechat-media:"))
        for v in by_type["voice"]:
            self.assertEqual(v["attachments"][0]["kind"], "audio")
        for loc in by_type["location"]:
            self.assertIn("lat", loc["location"])
            self.assertIn("text", loc["location"])
        self.assertTrue(all(x["attachments"][0]["kind"] == "image" for x in by_type["image"]))
        self.assertTrue(all(x["attachments"][0]["kind"] == "link" for x in by_type["link"]))
        self.assertTrue(all(x["attachments"][0]["kind"] == "video" for x in by_type["video"] + by_type["shortvideo"]))


class WeChatConversationTest(unittest.TestCase):
    def test_text_image_location_become_one_suggestion_and_survive_kill9(self):
        c = instance("wx_conv", "/wx/conv", mode="safe", quiet="2s")
        d = Minyid(channels=[c]).start()
        try:
            a = account(d, c)
            # A LOCATION event first: a later conversation without its own location gets it.
            a.send(event_xml("citizen-b", "LOCATION", int(time.time()),
                             "<Latitude>30.27</Latitude><Longitude>120.15</Longitude><Precision>50</Precision>"))
            replies = [
                a.send(text_xml("citizen-a", "幸福小区3号楼旁工地夜间施工噪音很大", "8100000000000000001"))[1],
                a.send(text_xml("citizen-b", "公园路口红绿灯坏了", "8100000000000000002"))[1],
                a.send(image_xml("citizen-a", "8100000000000000003"))[1],
                a.send(location_xml("citizen-a", "8100000000000000004", 30.2741, 120.1551, "幸福小区3号楼"))[1],
            ]
            self.assertEqual(replies[0], "您的建议已收到，编号 8100000000000000001")
            self.assertEqual(replies[2], replies[0], "later parts carry the conversation's number")
            # Nothing is committed yet, but every part is durable: kill -9 now.
            self.assertEqual(d.query("SELECT COUNT(*) FROM suggestions")[0][0], 0)
            self.assertEqual(pending_parts(d, "wx_conv", "citizen-a"), 3)
            d.kill9()
            d.start()
            a.port = d.port
            got = wait_until(lambda: (lambda x: x if len(x) == 2 else None)(docs(d)), timeout=30,
                             what="two assembled suggestions")
            a_doc = next(x for x in got if x["source"]["external_id"] == "8100000000000000001")
            self.assertEqual(a_doc["content"], "幸福小区3号楼旁工地夜间施工噪音很大")
            self.assertEqual([x["kind"] for x in a_doc["attachments"]], ["image"])
            self.assertEqual(a_doc["location"]["text"], "幸福小区3号楼")
            self.assertAlmostEqual(a_doc["location"]["lat"], 30.2741)
            self.assertEqual(a_doc["extras"]["wechat"]["message_types"], ["text", "image", "location"])
            b_doc = next(x for x in got if x["source"]["external_id"] == "8100000000000000002")
            self.assertAlmostEqual(b_doc["location"]["lat"], 30.27, msg="from the LOCATION event")
            # Retries after the commit are answered and still store nothing: no part is pending.
            self.assertEqual(a.send(image_xml("citizen-a", "8100000000000000003"))[1], replies[0])
            self.assertEqual(pending_parts(d, "wx_conv", "citizen-a"), 0)
            self.assertEqual(d.query("SELECT COUNT(*) FROM suggestions")[0][0], 2)
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()

    def test_retries_and_concurrent_duplicates_store_once(self):
        c = instance("wx_retry", "/wx/retry", mode="compatible", quiet="1s")
        d = Minyid(channels=[c]).start()
        try:
            a = account(d, c)
            xml = text_xml("citizen-r", "垃圾站每天早上五点清运噪音大", "9200000000000000001")
            # WeChat gave up waiting and hung up; then it retries the same bytes, and the retries
            # may overlap each other.
            q, body = a.fire_and_forget(xml)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                results = list(pool.map(lambda _: a.post_raw(q, body), range(8)))
            self.assertTrue(all(s == 200 for s, _ in results), results)
            texts = {a.open_reply(t, q) for _, t in results}
            self.assertEqual(texts, {"您的建议已收到，编号 9200000000000000001"})
            wait_until(lambda: d.query("SELECT COUNT(*) FROM suggestions")[0][0] == 1, what="one suggestion")
            # Nothing is left pending that a later poll could commit a second time.
            self.assertEqual(pending_parts(d, "wx_retry", "citizen-r"), 0)
            self.assertEqual(d.query("SELECT COUNT(*) FROM suggestions")[0][0], 1)
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()

    def test_two_hundred_citizens_at_once_are_answered_within_5s(self):
        c = instance("wx_load", "/wx/load", mode="safe", quiet="1s")
        d = Minyid(channels=[c]).start()
        try:
            a = account(d, c)

            def citizen(i):
                t0 = time.monotonic()
                s1, r1, _ = a.send(text_xml(f"citizen-{i}", f"第{i}号市民：路面坑洼需要修补", str(9300000000000000000 + 2 * i)),
                                   retries=0)
                s2, r2, _ = a.send(image_xml(f"citizen-{i}", str(9300000000000000001 + 2 * i)), retries=0)
                return s1, s2, r1, time.monotonic() - t0

            with concurrent.futures.ThreadPoolExecutor(200) as pool:
                results = list(pool.map(citizen, range(200)))
            self.assertEqual([(s1, s2) for s1, s2, _, _ in results], [(200, 200)] * 200)
            slowest = max(t for _, _, _, t in results)
            self.assertLess(slowest, 5.0, f"slowest citizen waited {slowest:.2f}s for two answers")
            got = wait_until(lambda: (lambda x: x if len(x) == 200 else None)(docs(d)), timeout=60,
                             what="200 assembled suggestions")
            self.assertTrue(all(len(x["attachments"]) == 1 for x in got))
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()


class WeChatBadInputTest(unittest.TestCase):
    def test_bad_requests_are_refused_quarantined_and_not_logged(self):
        c = instance("wx_bad", "/wx/bad", mode="safe", max_body="16KiB")
        d = Minyid(channels=[c]).start()
        try:
            a = account(d, c)
            secret_text = "秘密内容-不应出现在日志"

            def q_and(xml, **kw):
                return a.envelope(xml, **kw)

            cases = []
            # Wrong signature: refused, not quarantined (anyone can send it).
            q, body = q_and(text_xml("u1", secret_text, "1"))
            q["msg_signature"] = "0" * 40
            cases.append(("bad_signature", q, body, 403, False))
            # Encrypted for another AppID: the signature is fine, the receive id is not.
            q, body = q_and(text_xml("u1", secret_text, "2"), encrypt_for="wx_somebody_else")
            cases.append(("wrong_app_id", q, body, 403, True))
            # A valid signature over an Encrypt that is not AES output.
            ts, nonce = str(int(time.time())), "123"
            junk = "QUJDREVGR0hJSktMTU5PUA=="
            body = f"<xml><ToUserName>gh</ToUserName><Encrypt><![CDATA[{junk}]]></Encrypt></xml>".encode()
            cases.append(("bad_encrypt", {"timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
                                          "msg_signature": sha1_sorted(c["token"], ts, nonce, junk)}, body, 400, True))
            # Decrypts fine but is not well-formed XML.
            q, body = q_and(f"<xml><Content>{secret_text}</Content")
            cases.append(("malformed_xml", q, body, 400, True))
            # DOCTYPE with an external entity (XXE).
            q, body = q_and('<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><ToUserName>a</ToUserName>'
                            '<FromUserName>b</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType>'
                            '<Content>&x;</Content><MsgId>5</MsgId></xml>')
            cases.append(("doctype_refused", q, body, 400, True))
            # Outer envelope itself malformed.
            ts = str(int(time.time()))
            cases.append(("malformed_xml", {"timestamp": ts, "nonce": "1", "encrypt_type": "aes",
                                            "msg_signature": "x"}, b"<xml><Encrypt>", 400, True))
            # Oversized.
            q, body = q_and(text_xml("u1", "长" * 10000, "6"))
            cases.append(("too_large", q, body, 413, False))
            # A captured request replayed an hour later.
            q, body = q_and(text_xml("u1", secret_text, "7"), timestamp=int(time.time()) - 3600)
            cases.append(("stale_timestamp", q, body, 403, False))

            quarantined = 0
            for code, q, body, want, quarantine in cases:
                status, text = a.post_raw(q, body)
                self.assertEqual(status, want, (code, text))
                self.assertIn(code, text)
                quarantined += quarantine
                wait_until(lambda: d.query("SELECT COUNT(*) FROM quarantine")[0][0] == quarantined, what=code)
            # Still serving, and nothing from the bodies reached the log.
            status, reply, _ = a.send(text_xml("u-ok", "正常建议", "99"))
            self.assertEqual(status, 200)
            log = d.log()
            self.assertNotIn(secret_text, log)
            self.assertNotIn("/etc/passwd", log)
            self.assertEqual(d.query("SELECT COUNT(*) FROM suggestions")[0][0], 1)
            self.assertEqual(d.terminate(), 0)
        finally:
            d.stop()

    def test_configuration_errors_are_clear(self):
        # The daemon refuses to start, naming what is missing.
        d = Minyid(channels=[{"name": "wx", "plugin": "wechat", "token": "t", "mode": "safe"}])
        r = d.run(timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("encoding_aes_key", d.log() + r.stdout + r.stderr)
        d = Minyid(channels=[{"name": "wx", "plugin": "wechat", "token": "t", "mode": "safe",
                              "encoding_aes_key": "short", "app_id": "wx1"}])
        r = d.run(timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("43-character", d.log() + r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
