"""The host schedules a polling source; its checkpoint is committed with each suggestion,
so after kill -9 it resumes where it stood: nothing skipped, nothing twice."""

import unittest

from harness import BUILD_PLUGINS, TEST_PLUGINS, Minyid, wait_until


class PollingSourceTest(unittest.TestCase):
    def test_polls_and_resumes_from_checkpoint(self):
        channels = [{"name": "patrol", "plugin": "ticker", "poll_interval": "20ms", "limit": 8}]
        d = Minyid(channels=channels, minyi={"plugin_path": [BUILD_PLUGINS, TEST_PLUGINS]}).start()
        wait_until(lambda: d.query("SELECT COUNT(*) FROM suggestions")[0][0] >= 3, what="first polls")
        d.kill9()
        d.start()
        wait_until(lambda: d.query("SELECT COUNT(*) FROM suggestions")[0][0] == 8, what="all polls")
        self.assertEqual(d.query("SELECT value FROM checkpoints WHERE instance='patrol' AND key='next'"),
                         [(b"8",)])
        ext = sorted(r[0] for r in d.query("SELECT external_id FROM suggestions"))
        self.assertEqual(ext, sorted(f"tick-{i}" for i in range(8)))
        channel = d.query("SELECT DISTINCT channel, instance FROM suggestions")
        self.assertEqual(channel, [("other", "patrol")])
        self.assertEqual(d.terminate(), 0)


if __name__ == "__main__":
    unittest.main()
