"""A local emulator of the Sinch Elastic SIP Trunk calls API (see ``docs/sandbox.md``)."""

from pipeline.sandbox.server import SandboxHandle, run_sandbox
from pipeline.sandbox.settings import SandboxSettings

__all__ = ["SandboxHandle", "SandboxSettings", "run_sandbox"]
