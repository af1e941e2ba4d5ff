"""Run inside a private mount namespace (`unshare --mount`): a lab whose state dir is on
a noexec tmpfs, as /run is on Debian and Ubuntu. Prints what it saw, as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lab.cluster import build
from lab.cluster.plan import make_plan
from lab.runtime.student import student_bin_dir


def main(root: str, plugin: str) -> None:
    subprocess.run(["mount", "--make-rprivate", "/"], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "noexec,size=8m", "tmpfs", root], check=True)
    plan = make_plan(2, prefix="ptnoexec", state_dir=f"{root}/state")
    Path(plan.state_dir).mkdir()
    trap = Path(plan.state_dir, "trap")
    trap.write_text("#!/bin/sh\nexit 0\n")
    trap.chmod(0o755)
    try:
        subprocess.run([str(trap)], check=True)
        denied = False
    except PermissionError:
        denied = True
    build.install_plugins(plan)
    version = subprocess.run(
        [f"{plan.bin_dir}/pycni"],
        env={"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"},
        input=b"{}",
        capture_output=True,
        check=False,
    )
    wrapper = student_bin_dir(plan, plugin) / "pycni"
    student = subprocess.run(
        [str(wrapper)], env={"CNI_COMMAND": "VERSION"}, capture_output=True, check=False
    )
    exec_dir = plan.exec_dir
    build.down(plan)
    print(
        json.dumps(
            {
                "denied": denied,
                "exec_dir": exec_dir,
                "version": version.stdout.decode(),
                "student_rc": student.returncode,
                "student": student.stdout.decode() + student.stderr.decode(),
                "left": os.path.exists(exec_dir) or os.path.exists(plan.state_dir),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
