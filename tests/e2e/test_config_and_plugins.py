"""Configuration errors and plugin-loader refusals are reported by --check-config with
file and line, and minyid refuses to start on them."""

import os
import re
import shutil
import tempfile
import unittest

from harness import ABI_DIR, BUILD_PLUGINS, Minyid

# The ABI this tree's header declares (the refusal messages name it).
with open(os.path.join(os.path.dirname(__file__), "../../sdk/include/minyi/plugin.h"), encoding="utf-8") as _h:
    ABI_MINOR = int(re.search(r"#define MINYI_ABI_MINOR (\d+)", _h.read()).group(1))


def config(plugin_path, body=""):
    return (f"minyi:\n  state_dir: STATE\n  plugin_path: [{plugin_path}]\n  public: {{listen: 127.0.0.1:0}}\n"
            + body)


class ConfigErrorsTest(unittest.TestCase):
    def check_refused(self, text, *patterns):
        tmp = tempfile.mkdtemp(prefix="minyi-cfg-")
        d = Minyid(tmp=tmp, config_text=text.replace("STATE", os.path.join(tmp, "var")))
        res = d.run("--check-config")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        for p in patterns:
            self.assertRegex(res.stderr, p.replace("CFG", re.escape(d.config_path)))
        # The daemon refuses to start on the same file, and creates nothing.
        start = d.run(timeout=60)
        self.assertEqual(start.returncode, 1, start.stderr)
        for p in patterns:
            self.assertRegex(start.stderr, p.replace("CFG", re.escape(d.config_path)))
        self.assertFalse(os.path.exists(os.path.join(tmp, "var", "journal.db")))
        shutil.rmtree(tmp)
        return res.stderr

    def test_valid_config_passes(self):
        tmp = tempfile.mkdtemp(prefix="minyi-cfg-")
        d = Minyid(tmp=tmp, config_text=config(BUILD_PLUGINS, "channels:\n  - {name: portal, plugin: web}\n"
                                               "sinks:\n  - {name: out, plugin: file, path: /tmp/x.ndjson}\n"))
        res = d.run("--check-config")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("configuration OK", res.stdout)

    def test_unknown_key(self):
        self.check_refused(config(BUILD_PLUGINS, "  log: {levle: debug}\n"),
                           r"CFG:5:9: unknown key 'levle' in minyi\.log")

    def test_unknown_plugin_key(self):
        self.check_refused(config(BUILD_PLUGINS, "sinks:\n  - name: out\n    plugin: file\n    path: /tmp/x\n"
                                                 "    rotate_every: 1d\n"),
                           r"CFG:9:5: unknown key 'rotate_every' for instance 'out' \(plugin file\)")

    def test_wrong_type(self):
        self.check_refused(config(BUILD_PLUGINS, "sinks:\n  - {name: out, plugin: http, url: 'http://x/',"
                                                 " timeout: soon}\n"),
                           r"CFG:6:58: 'out\.timeout' must be a duration, got 'soon'")

    def test_value_outside_the_plugins_choices(self):
        self.check_refused(config(BUILD_PLUGINS, "sinks:\n  - {name: out, plugin: file, path: /tmp/x, fsync: often}\n"),
                           r"CFG:6:52: 'out\.fsync' must be one of always, batch, never, got 'often'")

    def test_missing_required_plugin_key(self):
        self.check_refused(config(BUILD_PLUGINS, "sinks:\n  - {name: out, plugin: http}\n"),
                           r"CFG:6:5: missing required key 'url' for instance 'out' \(plugin http\)")

    def test_bad_file_reference(self):
        self.check_refused(config(BUILD_PLUGINS, "channels:\n  - {name: p, plugin: web, secret: "
                                                 "\"${file:/nonexistent/minyi/secret}\"}\n"),
                           r"CFG:6:36: cannot read file '/nonexistent/minyi/secret'")

    def test_unknown_plugin(self):
        self.check_refused(config(BUILD_PLUGINS, "channels:\n  - {name: p, plugin: carrier_pigeon}\n"),
                           r"CFG:6:23: no plugin named 'carrier_pigeon'")

    def test_yaml_syntax_error(self):
        self.check_refused(config(BUILD_PLUGINS, "channels: [\n"), r"CFG:\d+:\d+: YAML syntax error")


class LoaderRefusalTest(unittest.TestCase):
    def refused(self, case, *patterns):
        tmp = tempfile.mkdtemp(prefix="minyi-abi-")
        d = Minyid(tmp=tmp, config_text=config(os.path.join(ABI_DIR, case)).replace("STATE", tmp + "/var"))
        res = d.run("--check-config")
        self.assertEqual(res.returncode, 1, res.stdout + res.stderr)
        so = re.escape(os.path.join(ABI_DIR, case, f"minyi_test_{case}.so"))
        self.assertRegex(res.stderr, so, "the message names the file")
        for p in patterns:
            self.assertRegex(res.stderr, p)
        self.assertEqual(d.run(timeout=60).returncode, 1, "minyid refuses to start")

    def test_wrong_major(self):
        self.refused("wrong_major", rf"built for plugin ABI 2\.0, but this minyid speaks ABI 1\.{ABI_MINOR}\b",
                     r"rebuild")

    def test_newer_minor(self):
        self.refused("newer_minor",
                     rf"needs plugin ABI 1\.{ABI_MINOR + 1}, newer than this minyid's ABI 1\.{ABI_MINOR}\b",
                     r"upgrade minyid")

    def test_missing_callback(self):
        self.refused("missing_deliver", r"does not provide the required callback minyi_on_deliver")

    def test_older_smaller_descriptor_is_zero_filled(self):
        # Its descriptor ends before minyi_on_deliver: accepted as ABI 1.0, then refused as a
        # sink without the callback — not crashed on by reading past its end.
        self.refused("old_small", r"does not provide the required callback minyi_on_deliver")

    def test_duplicate_name(self):
        self.refused("duplicate", r"minyi_sink_file\.so is named 'file', like .*minyi_test_duplicate\.so",
                     r"must be unique")


class CommandLineTest(unittest.TestCase):
    def test_version_and_describe(self):
        d = Minyid(config_text=config(BUILD_PLUGINS))
        res = d.run("--version")
        self.assertEqual(res.returncode, 0)
        self.assertRegex(res.stdout, rf"^minyid \d+\.\d+\.\d+ \(plugin ABI 1\.{ABI_MINOR},")
        res = d.run("--describe-plugin", "web")
        self.assertEqual(res.returncode, 0, res.stderr)
        for key in ("path", "secret", "signature_header", "accept_form"):
            self.assertIn(key, res.stdout)
        res = d.run("--describe-plugin", "file")
        self.assertIn("max_size (size, default 100MiB)", res.stdout)
        self.assertIn("fsync (string: always | batch | never, default batch)", res.stdout)
        res = d.run("--describe-plugin", "nope")
        self.assertEqual(res.returncode, 1)
        self.assertIn("no plugin named 'nope'", res.stderr)

    def test_bad_arguments(self):
        d = Minyid(config_text=config(BUILD_PLUGINS))
        res = d.run("--frobnicate")
        self.assertEqual(res.returncode, 2)
        self.assertIn("usage:", res.stderr)


if __name__ == "__main__":
    unittest.main()
