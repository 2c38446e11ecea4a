"""What the PyTorch peers share (phcc_ssl.py, reference_cnn.py): the bundle the TypeScript side
writes, the BLAS report, and the serve loop that times steps on request.

Never a product dependency: only the benchmarks and their tests run the peers.
"""

import json
import os
import sys
import time

import numpy as np
import torch


def load_bundle(directory):
    """manifest.json + data.bin (float32 little-endian) → the manifest, plus "weights": [(name,
    shape, tensor)] in the bundle's order and "arrays": {name: tensor} (the inputs)."""
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    data = np.fromfile(os.path.join(directory, "data.bin"), dtype="<f4")

    def array(entry):
        size = int(np.prod(entry["shape"])) if entry["shape"] else 1
        values = data[entry["offset"] : entry["offset"] + size]
        return torch.from_numpy(values.copy()).reshape(entry["shape"])

    manifest["weights"] = [(e["name"], e["shape"], array(e)) for e in manifest["params"]]
    manifest["arrays"] = {e["name"]: array(e) for e in manifest["inputs"]}
    return manifest


def blas_library():
    """The BLAS this process loaded (Debian's torch takes whichever libblas.so.3 is selected)."""
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            paths = {line.split()[-1] for line in maps if "libblas" in line or "openblas" in line}
        return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "none found"
    except OSError:
        return "unknown"


def serve_steps(step_for):
    """Says hello (torch version, threads, BLAS), then per JSON line on stdin ({"threads": n,
    "steps": k, …}) sets the thread count, takes `step_for(request)` (a callable doing one
    optimiser step), runs it once to warm up and k times timed, and answers {"seconds": [...],
    "cpu_seconds": [...]}: wall and process CPU time per step, so the caller can interleave."""
    hello = {"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_library()}
    print(json.dumps(hello), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        torch.set_num_threads(int(request["threads"]))
        step = step_for(request)
        step()  # warm-up: this thread count's buffers and caches
        seconds, cpu_seconds = [], []
        for _ in range(int(request["steps"])):
            t0, c0 = time.perf_counter(), time.process_time()
            step()
            seconds.append(time.perf_counter() - t0)
            cpu_seconds.append(time.process_time() - c0)
        print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds}), flush=True)
