"""The azd postdeploy hook: valid sh, reading only outputs main.bicep declares, and deploying
lake-events.bicep with the parameters that file declares (without default)."""

from __future__ import annotations

import re
import subprocess

from tests.infra import bicep
from tests.infra.conftest import ROOT

HOOK = ROOT / "infra" / "hooks" / "postdeploy.sh"


def test_hook_is_valid_sh():
    result = subprocess.run(["sh", "-n", str(HOOK)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_hook_reads_outputs_of_main_bicep():
    outputs = set(re.findall(r"^output (\w+) ", bicep.read("main.bicep"), re.M))
    used = set(re.findall(r'"\$(AZURE_[A-Z_]+)"', HOOK.read_text()))
    assert used and used <= outputs, sorted(used - outputs)


def test_hook_passes_every_required_parameter_of_lake_events():
    text = bicep.read("app/lake-events.bicep")
    required = set(re.findall(r"^param (\w+) \w+\s*$", text, re.M))
    passed = set(re.findall(r"(\w+)=\"\$", HOOK.read_text()))
    assert required == {"functionAppName", "systemTopicName"} and required <= passed, (required, passed)
    assert 'app/lake-events.bicep"' in HOOK.read_text()
