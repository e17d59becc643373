"""Duplicates through the real minyid: the same text from the same person via two channel
instances is linked as a duplicate (in the journal, the document and the event); from two
people it is not; decisions survive restarts and kill -9."""

import json
import os
import re
import sqlite3
import tempfile
import unittest

import harness
from harness import Minyid, wait_until

TEXT = "幸福小区南门外的工地每天晚上施工到凌晨两点，噪音非常大，严重影响居民休息，请有关部门尽快处理。"


class DuplicatesTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="minyi-dup-")
        self.out = os.path.join(self.tmp, "events.ndjson")
        self.channels = [{"name": "portal", "plugin": "web", "path": "/v1/suggestions"},
                         {"name": "app", "plugin": "web", "path": "/v1/app"}]
        self.d = Minyid(tmp=self.tmp, channels=self.channels,
                        sinks=[{"name": "archive", "plugin": "file", "path": self.out}]).start()

    def tearDown(self):
        self.d.stop()

    def doc(self, sid):
        return json.loads(self.d.query("SELECT doc FROM suggestions WHERE id=?", sid)[0][0])

    def test_same_person_two_channels_is_a_duplicate(self):
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        # Edited title, traditional characters and other punctuation: still the same text.
        b = self.d.post({"title": "再次反映", "content": "幸福小區南門外的工地每天晚上施工到淩晨兩點 噪音非常大 嚴重影響居民休息 請有關部門儘快處理",
                         "submitter": {"phone": "+86 138 0013 8000"}}, path="/v1/app")[2]["id"]
        self.assertEqual(self.doc(a)["dedup"]["status"], "new")
        d = self.doc(b)["dedup"]
        self.assertEqual(d["status"], "duplicate")
        self.assertEqual(d["duplicate_of"], a)
        self.assertGreaterEqual(d["score"], 0.8)
        self.assertIn("same phone", d["reason"])
        self.assertTrue(d["algorithm"])
        self.assertEqual(self.d.query("SELECT status, duplicate_of FROM suggestions WHERE id=?", b), [("duplicate", a)])
        events = wait_until(lambda: (e := self.d.file_events(self.out)) and len(e) == 2 and e, what="events")
        self.assertEqual([e["type"] for e in events], ["minyi.suggestion.created", "minyi.suggestion.duplicate"])
        self.assertEqual(events[1]["data"]["dedup"]["duplicate_of"], a)
        # A third copy links to the original, not to the copy.
        c = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual(self.doc(c)["dedup"]["duplicate_of"], a)

    def test_same_text_from_two_people_is_not_a_duplicate(self):
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        b = self.d.post({"content": TEXT, "submitter": {"phone": "13900139000"}})[2]["id"]
        self.assertEqual(self.doc(a)["dedup"]["status"], "new")
        self.assertEqual(self.doc(b)["dedup"]["status"], "new")
        # Different texts from the same person are not duplicates either.
        c = self.d.post({"content": "公交站台破损，雨天没有遮挡，建议增设候车亭。", "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual(self.doc(c)["dedup"]["status"], "new")

    def test_a_text_copied_by_many_people_does_not_hide_a_resend(self):
        # Forty families paste the same text; then the first one sends it again. Only
        # candidates from the same person are verified, however many others came between.
        first = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        for i in range(40):
            status, _, body = self.d.post({"content": TEXT, "submitter": {"phone": "1390000%04d" % i}})
            self.assertEqual(status, 201)
            self.assertEqual(self.doc(body["id"])["dedup"]["status"], "new")
        again = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        d = self.doc(again)["dedup"]
        self.assertEqual((d["status"], d["duplicate_of"]), ("duplicate", first))

    def test_same_issue_from_two_people_forms_one_cluster(self):
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        b = self.d.post({"content": TEXT, "submitter": {"phone": "13900139000"}}, path="/v1/app")[2]["id"]
        da, db = self.doc(a)["dedup"], self.doc(b)["dedup"]
        self.assertEqual((da["status"], db["status"]), ("new", "new"))
        self.assertTrue(da["cluster_id"])
        self.assertEqual(db["cluster_id"], da["cluster_id"])
        self.assertEqual(db["cluster_size"], 2)
        self.assertEqual(self.d.query("SELECT size FROM clusters WHERE id=?", da["cluster_id"]), [(2,)])
        # Another family, other words, same noise at the same estate: same cluster.
        c = self.d.post({"content": "幸福小区南门工地夜里施工噪音太大了，孩子晚上睡不着觉，希望管一管夜间施工。",
                         "submitter": {"phone": "13700137000"}})[2]["id"]
        self.assertEqual(self.doc(c)["dedup"]["cluster_id"], da["cluster_id"])
        self.assertEqual(self.doc(c)["dedup"]["cluster_size"], 3)
        # The same complaint about another estate: neither duplicate nor related.
        swapped = TEXT.replace("幸福小区", "光明小区")
        d = self.d.post({"content": swapped, "submitter": {"phone": "13800138000"}})[2]["id"]
        dd = self.doc(d)["dedup"]
        self.assertEqual(dd["status"], "new")
        self.assertNotEqual(dd["cluster_id"], da["cluster_id"])
        # The same estate with a different problem: another cluster.
        e = self.d.post({"content": "幸福小区的电梯经常故障停运，老人上下楼很困难，物业一直不维修。",
                         "submitter": {"phone": "13600136000"}})[2]["id"]
        self.assertNotEqual(self.doc(e)["dedup"]["cluster_id"], da["cluster_id"])
        events = wait_until(lambda: (ev := [x for x in self.d.file_events(self.out) if x["type"] == "minyi.cluster.updated"])
                            and len(ev) == 2 and ev, what="cluster events")
        self.assertEqual([x["data"]["size"] for x in events], [2, 3])
        self.assertEqual(events[-1]["subject"], da["cluster_id"])
        self.assertEqual(events[-1]["data"]["latest_suggestion"], c)

    def test_admin_undo_is_journaled_and_announced(self):
        self.assertEqual(self.d.admin("GET", "/livez"), (200, {"status": "ok"}))
        self.assertEqual(self.d.admin("GET", "/readyz")[0], 200)
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        b = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        c = self.d.post({"content": TEXT, "submitter": {"phone": "13900139000"}})[2]["id"]
        cluster = self.doc(a)["dedup"]["cluster_id"]
        self.assertEqual(self.d.query("SELECT size FROM clusters WHERE id=?", cluster), [(2,)])
        # who and why are required
        status, err = self.d.admin("POST", f"/v1/admin/suggestions/{b}/unlink", {"by": "ops"})
        self.assertEqual((status, err["error"]["field"]), (400, "reason"))
        status, _ = self.d.admin("POST", f"/v1/admin/suggestions/{a}/unlink", {"by": "ops", "reason": "x"})
        self.assertEqual(status, 409, "a is not a duplicate")
        self.assertEqual(self.d.admin("POST", "/v1/admin/suggestions/nope/unlink", {"by": "o", "reason": "r"})[0], 404)

        status, body = self.d.admin("POST", f"/v1/admin/suggestions/{b}/unlink",
                                    {"by": "王科长", "reason": "different building, checked by phone"})
        self.assertEqual((status, body["action"]), (200, "unlink_duplicate"))
        self.assertEqual(self.d.query("SELECT status, duplicate_of FROM suggestions WHERE id=?", b), [("new", None)])
        # b stands on its own now: a later resend links to b, the newest original.
        d = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual(self.doc(d)["dedup"]["duplicate_of"], b)
        status, _ = self.d.admin("POST", f"/v1/admin/suggestions/{c}/uncluster", {"by": "王科长", "reason": "other issue"})
        self.assertEqual(status, 200)
        self.assertEqual(self.d.query("SELECT cluster_id FROM suggestions WHERE id=?", c), [(None,)])
        self.assertEqual(self.d.query("SELECT size FROM clusters WHERE id=?", cluster), [(1,)])
        actions = self.d.query("SELECT suggestion_id, action, actor, reason FROM dedup_actions ORDER BY id")
        self.assertEqual(actions, [(b, "unlink_duplicate", "王科长", "different building, checked by phone"),
                                   (c, "remove_from_cluster", "王科长", "other issue")])
        events = wait_until(lambda: (ev := self.d.file_events(self.out)) and
                            sum(e["type"] == "minyi.suggestion.updated" for e in ev) == 2 and ev, what="update events")
        updates = [e for e in events if e["type"] == "minyi.suggestion.updated"]
        self.assertEqual([u["subject"] for u in updates], [b, c])
        self.assertEqual(updates[0]["data"]["dedup"]["status"], "new")
        self.assertEqual(updates[0]["data"]["by"], "王科长")
        self.assertEqual(events[-1]["type"], "minyi.cluster.updated")
        self.assertEqual(events[-1]["data"]["size"], 1)
        status, metrics = self.d.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertRegex(metrics, r"minyi_events_last_seq \d+")
        self.assertIn('minyi_plugin_counter{instance="portal",name="accepted"} 4', metrics)
        # Every sink has handled every event: its cursor is the log's last seq.
        last = int(re.search(r"^minyi_events_last_seq (\d+)$", metrics, re.M).group(1))
        metrics = wait_until(lambda: (m := self.d.admin("GET", "/metrics")[1]) and
                             f'minyi_sink_lag_events{{sink="archive"}} 0' in m and m, what="sink caught up")
        self.assertIn(f'minyi_sink_cursor{{sink="archive"}} {last}', metrics)
        # The sink took the events it kept up with from the writer's copies, and those after
        # each correction (whose events the writer does not copy) from the journal.
        reads = {k: int(v) for k, v in re.findall(
            rf'^minyi_sink_events_read_total{{sink="archive",from="(\w+)"}} (\d+)$', metrics, re.M)}
        self.assertGreater(reads.get("memory", 0), 0, metrics)
        self.assertGreater(reads.get("journal", 0), 0, metrics)
        self.assertGreaterEqual(reads["memory"] + reads["journal"], last)

    def test_later_duplicates_follow_corrections_of_their_original(self):
        # A duplicate joins its original's cluster; the signatures name that cluster, so
        # a correction of the original must be followed, also after a restart.
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        b = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        c = self.d.post({"content": TEXT, "submitter": {"phone": "13900139000"}})[2]["id"]
        cluster = self.doc(a)["dedup"]["cluster_id"]
        self.assertTrue(cluster)
        self.assertEqual([self.doc(x)["dedup"]["cluster_id"] for x in (b, c)], [cluster, cluster])
        self.assertEqual(self.d.admin("POST", f"/v1/admin/suggestions/{b}/unlink", {"by": "ops", "reason": "r"})[0], 200)
        d = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual((self.doc(d)["dedup"]["duplicate_of"], self.doc(d)["dedup"]["cluster_id"]), (b, cluster))
        # b leaves the cluster: d's signature still names it, but a new copy follows b.
        self.assertEqual(self.d.admin("POST", f"/v1/admin/suggestions/{b}/uncluster", {"by": "ops", "reason": "r"})[0],
                         200)
        e = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual((self.doc(e)["dedup"]["duplicate_of"], self.doc(e)["dedup"]["cluster_id"]), (b, None))
        self.assertEqual(self.d.query("SELECT cluster_id FROM suggestions WHERE id=?", e), [(None,)])
        # Someone else's copy still joins the cluster a and c are in.
        g = self.d.post({"content": TEXT, "submitter": {"phone": "13700137000"}})[2]["id"]
        self.assertEqual(self.doc(g)["dedup"]["cluster_id"], cluster)
        # The same after a crash: the corrections are read back from the journal.
        other = "公交站台破损，雨天没有遮挡，老人孩子等车很不方便，建议在人民路口增设候车亭。"
        h = self.d.post({"content": other, "submitter": {"phone": "13600136000"}})[2]["id"]
        i = self.d.post({"content": other, "submitter": {"phone": "13600136000"}})[2]["id"]
        self.assertTrue(self.doc(i)["dedup"]["cluster_id"])
        self.assertEqual(self.d.admin("POST", f"/v1/admin/suggestions/{h}/uncluster", {"by": "ops", "reason": "r"})[0],
                         200)
        self.d.kill9()
        self.d.start()
        j = self.d.post({"content": other, "submitter": {"phone": "13600136000"}}, path="/v1/app")[2]["id"]
        self.assertEqual((self.doc(j)["dedup"]["duplicate_of"], self.doc(j)["dedup"]["cluster_id"]), (h, None))

    def test_a_resend_refers_to_the_stored_text_instead_of_copying_it(self):
        def signatures():
            return {r[0]: r[1:] for r in self.d.query(
                "SELECT s.id, length(d.match_text), d.text_of, d.text_hash, s.rowid FROM dedup_signatures d "
                "JOIN suggestions s ON s.rowid = d.suggestion_rowid")}

        a, b, c = (self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"] for _ in range(3))
        sig = signatures()
        self.assertGreater(sig[a][0], 0)
        self.assertIsNone(sig[a][1])
        self.assertRegex(sig[a][2], r"^[0-9a-f]{32}$")
        a_row = sig[a][3]
        # b and c store no copy; c refers to a's row, not to b's (which holds none).
        self.assertEqual([sig[x][:3] for x in (b, c)], [(0, a_row, sig[a][2])] * 2)
        self.assertEqual([self.doc(x)["dedup"]["duplicate_of"] for x in (b, c)], [a, a])
        # An edited copy is verified against the text a's row holds, and keeps its own.
        edited = TEXT.replace("凌晨两点", "凌晨三点")
        d = self.d.post({"content": edited, "submitter": {"phone": "13800138000"}})[2]["id"]
        dd = self.doc(d)["dedup"]
        self.assertEqual(dd["duplicate_of"], a)
        self.assertTrue(0.8 <= dd["score"] < 1.0, dd)
        self.assertIn(c, dd["reason"], "c, the newest copy, was verified through a's text")
        self.assertGreater(signatures()[d][0], 0)
        self.assertIsNone(signatures()[d][1])
        self.d.kill9()
        self.d.start()
        e = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        f = self.d.post({"content": edited, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual((self.doc(e)["dedup"]["duplicate_of"], self.doc(e)["dedup"]["score"]), (a, 1.0))
        self.assertEqual((self.doc(f)["dedup"]["duplicate_of"], self.doc(f)["dedup"]["score"]), (a, 1.0))
        sig = signatures()
        self.assertEqual((sig[e][:2], sig[f][:2]), ((0, a_row), (0, sig[d][3])))

    def test_decisions_and_index_survive_restart_and_kill9(self):
        ids = [self.d.post({"content": f"{TEXT}（第{i}号楼）", "submitter": {"phone": "13800138000"}})[2]["id"]
               for i in range(5)]
        before = self.d.query("SELECT id, status, duplicate_of, dedup_score FROM suggestions ORDER BY rowid")
        self.assertEqual([r[1] for r in before], ["new"] + ["duplicate"] * 4)

        def index_size(log):
            sizes = re.findall(r"duplicate index holds (\d+) suggestion", log)
            return int(sizes[-1]) if sizes else None

        self.d.kill9()
        self.d.start()
        self.assertEqual(index_size(self.d.log()), 5)
        self.assertEqual(self.d.query("SELECT id, status, duplicate_of, dedup_score FROM suggestions ORDER BY rowid"),
                         before, "decisions are stored, not recomputed")
        # After the restart the index still finds the original.
        again = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}}, path="/v1/app")[2]["id"]
        self.assertEqual(self.doc(again)["dedup"]["duplicate_of"], ids[0])
        self.assertEqual(self.d.terminate(), 0)
        self.d.start()
        self.assertEqual(index_size(self.d.log()), 6)

    def test_a_journal_from_schema_version_3_is_upgraded_in_place(self):
        # Version 3 kept the band keys in dedup_signatures and its signatures did not name
        # their suggestion; versions 4 and 5 add the names and the narrow dedup_index, version 6
        # the root's cluster and the text's digest.
        a = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        b = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual(self.d.terminate(), 0)
        with sqlite3.connect(os.path.join(self.d.state, "journal.db")) as db:
            db.executescript("""
                UPDATE dedup_signatures SET bands = (SELECT bands FROM dedup_index i
                                                     WHERE i.suggestion_rowid = dedup_signatures.suggestion_rowid);
                DROP TABLE dedup_index;
                -- before version 6 every signature stored its own text
                UPDATE dedup_signatures SET match_text = (SELECT h.match_text FROM dedup_signatures h
                                                          WHERE h.suggestion_rowid = dedup_signatures.text_of)
                 WHERE text_of IS NOT NULL;
                ALTER TABLE dedup_signatures DROP COLUMN suggestion_id;
                ALTER TABLE dedup_signatures DROP COLUMN root_id;
                ALTER TABLE dedup_signatures DROP COLUMN root_cluster;
                ALTER TABLE dedup_signatures DROP COLUMN text_hash;
                ALTER TABLE dedup_signatures DROP COLUMN text_of;
                CREATE INDEX dedup_signatures_time ON dedup_signatures(event_minutes);
                DELETE FROM schema_version WHERE version > 3;
            """)
        self.d.start()
        self.assertIn("duplicate index holds 2 suggestion", self.d.log())
        self.assertEqual(self.d.query("SELECT MAX(version) FROM schema_version"), [(6,)])
        c = self.d.post({"content": TEXT, "submitter": {"phone": "13800138000"}})[2]["id"]
        self.assertEqual(self.doc(b)["dedup"]["duplicate_of"], a)
        self.assertEqual(self.doc(c)["dedup"]["duplicate_of"], a, "b's root, read from the suggestions table")
        self.assertEqual(self.doc(c)["dedup"]["cluster_id"], self.doc(a)["dedup"]["cluster_id"],
                         "a's cluster, read from the suggestions table")
        self.assertTrue(self.doc(c)["dedup"]["cluster_id"])
        # A new text from another person after the upgrade is new, and the index grows.
        self.assertEqual(self.doc(self.d.post({"content": TEXT, "submitter": {"phone": "13900139000"}})[2]["id"])
                         ["dedup"]["status"], "new")
        self.assertEqual(self.d.terminate(), 0)
        self.d.start()
        self.assertIn("duplicate index holds 4 suggestion", self.d.log())

class WindowTest(unittest.TestCase):
    def test_start_up_loads_only_signatures_inside_the_window(self):
        tmp = tempfile.mkdtemp(prefix="minyi-dup-window-")
        cfg = {"minyi": {"state_dir": os.path.join(tmp, "var"), "plugin_path": [harness.BUILD_PLUGINS],
                         "public": {"listen": "127.0.0.1:0"}, "log": {"level": "info"}},
               "dedup": {"duplicate_window": "2d"},
               "channels": [{"name": "portal", "plugin": "web"}], "sinks": []}
        d = Minyid(tmp=tmp, config_text=json.dumps(cfg, ensure_ascii=False)).start()
        try:
            old = [d.post({"content": f"{TEXT}（{i}号楼）", "submitter": {"phone": "13800138000"},
                           "submitted_at": f"2020-03-0{i + 1}T10:00:00+08:00"})[2]["id"] for i in range(3)]
            recent = d.post({"content": "公交站台破损，雨天没有遮挡，老人孩子等车很不方便，建议增设候车亭。",
                             "submitter": {"phone": "13800138000"}})[2]["id"]
            self.assertEqual(d.terminate(), 0)
            d.start()
            # Measured back from the newest event time: the 2020 reports are out of the window.
            self.assertIn("duplicate index holds 1 suggestion", d.log())
            again = d.post({"content": "公交站台破损，雨天没有遮挡，老人孩子等车很不方便，建议增设候车亭。",
                            "submitter": {"phone": "13800138000"}})[2]["id"]
            doc = json.loads(d.query("SELECT doc FROM suggestions WHERE id=?", again)[0][0])
            self.assertEqual(doc["dedup"]["duplicate_of"], recent)
            late = d.post({"content": f"{TEXT}（0号楼）", "submitter": {"phone": "13800138000"}})[2]["id"]
            doc = json.loads(d.query("SELECT doc FROM suggestions WHERE id=?", late)[0][0])
            self.assertEqual(doc["dedup"]["status"], "new", f"{old[0]} is years older than the window")
            # A report dated in the future counts as received now: it does not move the
            # window past everything else.
            future = d.post({"content": "路灯长期不亮，夜间出行很不安全，请尽快维修。", "submitter": {"phone": "13700137000"},
                             "submitted_at": "2099-01-01T08:00:00+08:00"})
            self.assertEqual(future[0], 201)
            self.assertEqual(d.terminate(), 0)
            d.start()
            self.assertIn("duplicate index holds 4 suggestion", d.log())
            doc = json.loads(d.query("SELECT doc FROM suggestions WHERE id=?", future[2]["id"])[0][0])
            self.assertTrue(doc["submitted_at"].startswith("2099-01-01"), "the document keeps what was sent")
        finally:
            d.stop()


if __name__ == "__main__":
    unittest.main()
