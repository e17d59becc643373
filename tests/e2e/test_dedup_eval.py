"""minyi-dedup-eval on the shared ground truth: every same-user exact-duplicate group of
附件3 is linked (recall 1.0), no link joins different people's different texts, and the
official worked example's two issues each form one cluster without the distractors."""

import csv
import os
import re
import subprocess
import tempfile
import unittest

from harness import SHARED

EVAL = os.environ.get("MINYI_DEDUP_EVAL", "../../build/minyi-dedup-eval")


class DedupEvalTest(unittest.TestCase):
    def test_attach3_exact_duplicate_groups(self):
        out = os.path.join(tempfile.mkdtemp(prefix="minyi-eval-"), "decisions.csv")
        res = subprocess.run([EVAL, "--messages", os.path.join(SHARED, "data/teddy2020c/attach3_hot_messages.csv"),
                              "--labels", os.path.join(SHARED, "data/ground-truth/gt_attach3_exact_dup_groups.csv"),
                              "--cluster-labels", os.path.join(SHARED, "data/ground-truth/gt_official_sample30_issues.csv"),
                              "--duplicate-window", "365d", "--cluster-window", "365d", "--out", out],
                             capture_output=True, text=True, timeout=600)
        self.assertEqual(res.returncode, 0, res.stderr)
        recall = float(re.search(r"recall (\d\.\d+)", res.stdout).group(1))
        self.assertEqual(recall, 1.0, res.stdout)
        self.assertIn("links between different people's different texts: 0", res.stdout)
        # The official worked example: issue 1 and issue 2 each one cluster; distractors join neither.
        self.assertRegex(res.stdout, r"issue 1: 10 messages in 1 cluster\(s\)")
        self.assertRegex(res.stdout, r"issue 2: 5 messages in 1 cluster\(s\)")
        self.assertIn("distractors in an issue's cluster: 0 of 15", res.stdout)
        with open(out, encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 4326)
        dups = [r for r in rows if r["status"] == "duplicate"]
        self.assertTrue(dups)
        for r in dups:
            self.assertGreaterEqual(float(r["score"]), 0.8)
            self.assertIn("Jaccard", r["reason"])

    def test_bad_arguments(self):
        res = subprocess.run([EVAL, "--nope", "x"], capture_output=True, text=True)
        self.assertEqual(res.returncode, 2)
        self.assertIn("usage:", res.stderr)


if __name__ == "__main__":
    unittest.main()
