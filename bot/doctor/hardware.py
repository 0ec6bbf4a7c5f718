"""The machine's memory, cores and GPUs, and the local model size that suits them.

Detection is blocking (it reads /proc and may run ``nvidia-smi``): call it in a thread.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

GIB = 1024**3
NVIDIA_QUERY = ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True, slots=True)
class Gpu:
    name: str
    memory_bytes: int


@dataclass(frozen=True, slots=True)
class Hardware:
    ram_bytes: int
    cores: int
    gpus: tuple[Gpu, ...] = ()

    @property
    def vram_bytes(self) -> int:
        return max((g.memory_bytes for g in self.gpus), default=0)


@dataclass(frozen=True, slots=True)
class Suggestion:
    model: str  # what to `ollama pull`
    size_b: float  # its parameters, in billions
    why: str


# (memory it needs to run well, in GiB; the model; its size in billions of parameters)
LADDER = (
    (48.0, "llama3.3:70b", 70.0),
    (24.0, "qwen2.5:14b", 14.0),
    (12.0, "llama3.1:8b", 8.0),
    (4.0, "llama3.2:3b", 3.0),  # or phi3:mini (3.8b)
)
CPU_CORES_FOR_8B = 8  # fewer cores than this make 8b models too slow to chat on a CPU


def suggest(hw: Hardware) -> Suggestion:
    """The largest model that fits the GPU (or, without one, RAM and cores)."""
    if hw.gpus:
        budget, where = hw.vram_bytes / GIB, f"{hw.vram_bytes / GIB:.0f} GiB of GPU memory"
    else:
        budget, where = hw.ram_bytes / GIB, f"{hw.ram_bytes / GIB:.0f} GiB of RAM, no GPU"
    for needs, model, size in LADDER:
        if budget < needs:
            continue
        if not hw.gpus and size >= 8 and hw.cores < CPU_CORES_FOR_8B:
            return Suggestion(
                "llama3.2:3b",
                3.0,
                f"{where}: {model} fits, but {hw.cores} CPU cores make it slow; "
                "llama3.2:3b or phi3:mini answer quicker",
            )
        return Suggestion(model, size, f"{where}: {model} fits")
    return Suggestion(
        "smollm2:135m",
        0.135,
        f"{where}: too little for an Ollama model; use the embedded model",
    )


def model_size_b(tag: str) -> float | None:
    """Billions of parameters from an Ollama tag (``llama3.1:8b`` -> 8), when it says."""
    if "mini" in tag.split(":")[-1]:
        return 3.8
    match = re.search(r"(?<![\d.])(\d+(?:\.\d+)?)([bm])\b", tag.split(":")[-1].lower())
    if match is None:
        return None
    value = float(match.group(1))
    return value / 1000 if match.group(2) == "m" else value


def detect(meminfo: Path = Path("/proc/meminfo"), nvidia_smi: str | None = None) -> Hardware:
    """This machine's RAM, cores and NVIDIA GPUs (``nvidia-smi`` when it is on PATH)."""
    return Hardware(ram_bytes(meminfo), os.cpu_count() or 1, tuple(gpus(nvidia_smi)))


def ram_bytes(meminfo: Path = Path("/proc/meminfo")) -> int:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def gpus(nvidia_smi: str | None = None) -> list[Gpu]:
    """NVIDIA GPUs as ``nvidia-smi`` lists them; none when it is absent or fails."""
    binary = nvidia_smi or shutil.which("nvidia-smi")
    if not binary:
        return []
    try:
        out = subprocess.run(
            [binary, *NVIDIA_QUERY], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return parse_nvidia_smi(out)


def parse_nvidia_smi(out: str) -> list[Gpu]:
    """``name, memory MiB`` lines (``--format=csv,noheader,nounits``) as Gpus."""
    found = []
    for line in out.splitlines():
        name, _, memory = line.rpartition(",")
        try:
            found.append(Gpu(name.strip(), int(float(memory.strip())) * 1024 * 1024))
        except ValueError:
            continue
    return found
