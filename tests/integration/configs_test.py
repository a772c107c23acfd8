#!/usr/bin/env python3
"""Every shipped configuration is valid, and the host set-up scripts refuse bad
usage before doing anything.

- `heimdall --config conf/<name>.yaml --check-config` exits 0 and says
  "configuration OK" for every file in conf/ (and the expected ones are there).
- scripts/hugepages.sh and scripts/bind-nic.sh exit 2 with a message on bad usage,
  refuse (exit 1) what they must refuse, and print instead of run with --dry-run.
  The DPDK tools they wrap are replaced by a stand-in that records its calls
  (DPDK_HUGEPAGES, DPDK_DEVBIND), so no hugepage is reserved and no device rebound
  even when this runs as root; the tests check that it was not called.

Environment: HEIMDALL_BIN (set by meson)."""
import glob
import os
import re
import shutil
import subprocess
import tempfile
import unittest

HEIMDALL = os.environ.get("HEIMDALL_BIN", "build/src/app/heimdall")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HUGEPAGES = os.path.join(ROOT, "scripts", "hugepages.sh")
BIND_NIC = os.path.join(ROOT, "scripts", "bind-nic.sh")
SHIPPED = ["dev", "reference", "lab", "container", "appliance", "filtering-node"]
PCI = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]")


def run(args, env=None, timeout=30):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)


def check_config(path, *extra):
    return run([HEIMDALL, "--config", path, "--check-config", *extra])


# The directories systemd makes for the unit (RuntimeDirectory=, LogsDirectory=),
# which --check-config requires to exist.
SERVICE_DIRECTORIES = ("/run/heimdall/", "/var/log/heimdall/")


def check_config_here(path, directory, *extra):
    """--check-config on a copy of `path` whose service directories are `directory`."""
    with open(path) as f:
        text = f.read()
    for service_directory in SERVICE_DIRECTORIES:
        text = text.replace(service_directory, directory.rstrip("/") + "/")
    copy = os.path.join(directory, os.path.basename(path))
    with open(copy, "w") as f:
        f.write(text)
    return check_config(copy, *extra)


class ShippedConfigsTest(unittest.TestCase):
    def test_the_expected_files_are_shipped(self):
        for name in SHIPPED:
            self.assertTrue(os.path.isfile(os.path.join(ROOT, "conf", name + ".yaml")), name)

    def test_every_config_checks(self):
        paths = sorted(glob.glob(os.path.join(ROOT, "conf", "*.yaml")))
        self.assertGreaterEqual(len(paths), len(SHIPPED))
        directory = tempfile.mkdtemp(prefix="heimdall-configs-")
        self.addCleanup(shutil.rmtree, directory)
        for path in paths:
            with self.subTest(config=os.path.basename(path)):
                result = check_config_here(path, directory)
                if result.returncode != 0 and "resolv.conf could not supply" in result.stderr:
                    # The file names no upstream and this machine's resolv.conf has
                    # none to offer: check the rest of the file with one given.
                    result = check_config_here(path, directory, "--upstream", "127.0.0.1:53")
                if result.returncode != 0 and "this build has no DPDK backend" in result.stderr:
                    self.skipTest(f"{path}: built with -Ddpdk_backend=disabled")
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertIn("configuration OK", result.stdout)

    def test_a_broken_copy_is_refused_with_its_line(self):
        # The check is real: the appliance file with one bad value fails, naming it.
        with open(os.path.join(ROOT, "conf", "appliance.yaml")) as f:
            text = f.read()
        broken = text.replace("max_entries: 2000000", "max_entries: lots", 1)
        self.assertNotEqual(text, broken)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(broken)
            f.flush()
            result = check_config(f.name)
        self.assertEqual(result.returncode, 1)
        self.assertIn("cache.max_entries", result.stderr)

    def test_a_missing_service_directory_fails_the_check(self):
        # Checked on the host, not just parsed: start-up would fail on it.
        with tempfile.TemporaryDirectory() as directory:
            config = os.path.join(directory, "c.yaml")
            for key, section in (("management.control_socket",
                                  f"management: {{control_socket: {directory}/no/c.sock}}"),
                                 ("query_log.path",
                                  f"query_log: {{enabled: true, path: {directory}/no/q.jsonl}}")):
                with open(config, "w") as f:
                    f.write("listen: {udp: [\"127.0.0.1:5353\"]}\n"
                            f"upstreams: {{servers: [127.0.0.1:53]}}\n{section}\n")
                result = check_config(config)
                self.assertEqual(result.returncode, 1, result.stdout)
                self.assertIn(f"{key}: directory {directory}/no does not exist", result.stderr)
                os.mkdir(os.path.join(directory, "no"))
                result = check_config(config)
                self.assertEqual(result.returncode, 0, result.stderr)
                os.rmdir(os.path.join(directory, "no"))

    def test_the_image_and_the_unit_use_shipped_files(self):
        with open(os.path.join(ROOT, "docker", "Dockerfile")) as f:
            dockerfile = f.read()
        self.assertIn("COPY conf/container.yaml /etc/heimdall/heimdall.yaml", dockerfile)
        for source in re.findall(r"^COPY (conf/\S*)", dockerfile, re.M):
            self.assertTrue(os.path.exists(os.path.join(ROOT, source)), source)
        with open(os.path.join(ROOT, "packaging", "heimdall.service")) as f:
            unit = f.read()
        self.assertIn("ExecStartPre=/usr/bin/heimdall --check-config --config "
                      "/etc/heimdall/heimdall.yaml", unit)

    def test_the_unit_verifies(self):
        analyze = shutil.which("systemd-analyze")
        self.assertTrue(analyze, "systemd-analyze is missing: scripts/install-deps.sh test installs it")
        with tempfile.TemporaryDirectory() as directory:
            # Pointed at this build's binary: verify insists the commands exist.
            with open(os.path.join(ROOT, "packaging", "heimdall.service")) as f:
                unit = f.read().replace("/usr/bin/heimdall", os.path.abspath(HEIMDALL))
            path = os.path.join(directory, "heimdall.service")
            with open(path, "w") as f:
                f.write(unit)
            result = run([analyze, "verify", path])
        self.assertEqual(result.returncode, 0, result.stderr)


class ScriptTestBase(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="heimdall-scripts-")
        self.calls = os.path.join(self.directory, "calls")
        self.fake = os.path.join(self.directory, "fake-dpdk-tool")
        with open(self.fake, "w") as f:
            f.write(f'#!/bin/sh\necho "$*" >> "{self.calls}"\necho "fake: $*"\n')
        os.chmod(self.fake, 0o755)
        self.env = dict(os.environ, DPDK_HUGEPAGES=self.fake, DPDK_DEVBIND=self.fake)

    def tearDown(self):
        shutil.rmtree(self.directory)

    def tool_calls(self):
        if not os.path.exists(self.calls):
            return []
        with open(self.calls) as f:
            return f.read().splitlines()

    def script(self, path, *args):
        return run(["bash", path, *args], env=self.env)

    def assert_usage_error(self, path, *args):
        result = self.script(path, *args)
        self.assertEqual(result.returncode, 2, f"{args}: {result.stdout}{result.stderr}")
        self.assertIn("usage:", result.stderr, args)
        self.assertEqual(self.tool_calls(), [], args)

    def assert_refused(self, path, args, message):
        result = self.script(path, *args)
        self.assertEqual(result.returncode, 1, f"{args}: {result.stdout}{result.stderr}")
        self.assertIn(message, result.stderr, args)
        self.assertEqual(self.tool_calls(), [], args)
        return result


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


class HugepagesScriptTest(ScriptTestBase):
    def test_bad_usage_exits_2(self):
        for args in [(), ("frobnicate",), ("setup",), ("setup", "2X"), ("setup", "0G"),
                     ("setup", "2G", "extra"), ("setup", "2G", "--node", "x"),
                     ("setup", "2G", "--pagesize", "big"), ("show", "extra"),
                     ("clear", "--pagesize", "2M"), ("--no-such-option", "show")]:
            with self.subTest(args=args):
                self.assert_usage_error(HUGEPAGES, *args)

    def test_a_size_that_is_not_whole_pages_exits_2(self):
        page_kb = meminfo_kb("Hugepagesize")
        if not page_kb:
            self.skipTest("no hugepage support in this kernel")
        self.assert_usage_error(HUGEPAGES, "--dry-run", "setup", f"{page_kb + 1}K")

    def test_a_missing_tool_is_named_with_its_package(self):
        self.env["DPDK_HUGEPAGES"] = os.path.join(self.directory, "absent")
        result = self.script(HUGEPAGES, "show")
        self.assertEqual(result.returncode, 1)
        self.assertIn("'dpdk' package", result.stderr)

    def test_more_than_available_memory_is_refused(self):
        if not meminfo_kb("Hugepagesize"):
            self.skipTest("no hugepage support in this kernel")
        self.assert_refused(HUGEPAGES, ("--dry-run", "setup", "1048576G"), "MemAvailable")
        # A real run checks root first: either refusal comes before any change.
        self.assert_refused(HUGEPAGES, ("setup", "1048576G"),
                            "MemAvailable" if os.geteuid() == 0 else "needs root")

    def test_dry_run_prints_and_runs_nothing(self):
        page_kb = meminfo_kb("Hugepagesize")
        if not page_kb:
            self.skipTest("no hugepage support in this kernel")
        result = self.script(HUGEPAGES, "--dry-run", "setup", f"{page_kb}K")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"would run: {self.fake} --pagesize", result.stdout)
        self.assertIn(f"--reserve {page_kb}K", result.stdout)
        self.assertIn(f"would run: {self.fake} -s", result.stdout)
        result = self.script(HUGEPAGES, "--dry-run", "clear")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"would run: {self.fake} --clear", result.stdout)
        self.assertEqual(self.tool_calls(), [])

    def test_show_only_reads(self):
        result = self.script(HUGEPAGES, "show")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.tool_calls(), ["-s"])
        self.assertIn("available", result.stdout)


def default_route_pci_devices():
    """PCI addresses of the interfaces carrying an IPv4 default route."""
    devices = set()
    try:
        with open("/proc/net/route") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return devices
    for line in lines:
        fields = line.split()
        if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
            path = os.path.realpath(f"/sys/class/net/{fields[0]}/device")
            found = PCI.findall(path)
            if found:
                devices.add(found[-1])
    return devices


class BindNicScriptTest(ScriptTestBase):
    def test_bad_usage_exits_2(self):
        for args in [(), ("frobnicate",), ("bind",), ("bind", "03:00.0"),
                     ("bind", "0000:zz:00.0"), ("bind", "0000:03:00.0", "vfio-pci", "extra"),
                     ("bind", "0000:03:00.0", "none"), ("bind", "0000:03:00.0", "bad driver"),
                     ("unbind", "0000:03:00.0"), ("status", "extra"), ("--dry-run", "status"),
                     ("--force", "bind", "0000:03:00.0")]:
            with self.subTest(args=args):
                self.assert_usage_error(BIND_NIC, *args)

    def test_a_missing_tool_is_named_with_its_package(self):
        self.env["DPDK_DEVBIND"] = os.path.join(self.directory, "absent")
        result = self.script(BIND_NIC, "status")
        self.assertEqual(result.returncode, 1)
        self.assertIn("'dpdk' package", result.stderr)

    def test_a_device_that_does_not_exist_is_refused(self):
        for dry in ([], ["--dry-run"]):
            with self.subTest(dry_run=bool(dry)):
                self.assert_refused(BIND_NIC, (*dry, "bind", "0000:ff:1f.7"), "no PCI device")

    def test_the_default_route_device_is_refused(self):
        devices = default_route_pci_devices()
        if not devices:
            self.skipTest("no PCI device carries this machine's default route")
        for device in sorted(devices):
            for args in (("bind", device), ("--dry-run", "bind", device),
                         ("unbind", device, "none")):
                with self.subTest(args=args):
                    self.assert_refused(BIND_NIC, args, "default route")

    def test_status_reports_the_default_route(self):
        result = self.script(BIND_NIC, "status")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.tool_calls(), ["--status-dev net"])
        self.assertIn("IOMMU:", result.stdout)
        for device in default_route_pci_devices():
            self.assertIn(f"({device}): never bind that device", result.stdout)


class ShellcheckTest(unittest.TestCase):
    def test_scripts_are_shellcheck_clean(self):
        shellcheck = shutil.which("shellcheck")
        self.assertTrue(shellcheck, "shellcheck is missing: scripts/install-deps.sh test installs it")
        scripts = sorted(glob.glob(os.path.join(ROOT, "scripts", "*.sh")) +
                         glob.glob(os.path.join(ROOT, "perf", "*.sh")))
        self.assertIn(HUGEPAGES, scripts)
        result = run([shellcheck, *scripts])
        self.assertEqual(result.returncode, 0, result.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
