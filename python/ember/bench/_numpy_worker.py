"""NumPy side of `ember bench`, in its own process (`python -m ember.bench._numpy_worker`): OpenBLAS's worker
threads spin after every call and would steal the cores ember and torch run on next, so NumPy never runs in the
benchmark's process. Started with OPENBLAS_NUM_THREADS/OMP_NUM_THREADS set; speaks JSON lines on stdin/stdout:
  {"cmd": "prepare", "name": ..., "spec": {M, K, N, layout, seed}} -> {"ok": true, "max_error": e} or {"ok": false, "error": msg}
  {"cmd": "time", "name": ..., "calls": n}                       -> {"ok": true, "seconds": per call}
  {"cmd": "quit"}"""
import json
import sys
import time

import numpy as np

from .gemm import TOLERANCE, make_operands, reference, scaled_error


def serve(stdin, stdout):
    cases = {}
    for line in stdin:
        request = json.loads(line)
        try:
            if request["cmd"] == "quit":
                return
            if request["cmd"] == "prepare":
                s = request["spec"]
                _, _, a_op, b_op = make_operands(s["M"], s["K"], s["N"], s["layout"], s["seed"])
                c = np.empty((s["M"], s["N"]), np.float32)
                np.matmul(a_op, b_op, out=c)
                err = scaled_error(c, reference(a_op, b_op))
                if not err <= TOLERANCE:
                    raise ValueError(f"numpy: scaled error {err:.3g} > {TOLERANCE:g} against a float64 product")
                cases[request["name"]] = (a_op, b_op, c)
                reply = {"ok": True, "max_error": err}
            elif request["cmd"] == "time":
                a_op, b_op, c = cases[request["name"]]
                calls = int(request["calls"])
                start = time.perf_counter()
                for _ in range(calls):
                    np.matmul(a_op, b_op, out=c)
                reply = {"ok": True, "seconds": (time.perf_counter() - start) / calls}
            else:
                raise ValueError(f"unknown command {request['cmd']!r}")
        except Exception as exc:   # reported to the parent, which marks the NumPy column as failed
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
