"""The nightly run with the lake on an S3-compatible store against the same run on the local disk.

    .venv/bin/python bench/object_store.py --items 200000          # starts a moto S3 server on loopback
    .venv/bin/python bench/object_store.py --items 1000000 --endpoint http://127.0.0.1:9000 --bucket ripple
                                                                   # an existing server (MinIO), AWS_* set

Both runs are bench/e2e.py's nightly child (30-day demo window, scale = items / 50k) in fresh subprocesses; the
object-store run sets ``RIPPLE__LAKE__ROOT=s3://<bucket>/<prefix>``, so raw/, lake/ and quarantine/ live in the
store while the warehouse is built on the local disk. Prints the wall time per stage side by side; the last line
is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import e2e  # noqa: E402  (bench/e2e.py: the nightly child)


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    exe = shutil.which("moto_server") or str(Path(sys.executable).with_name("moto_server"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1).close()
            return proc, endpoint
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("moto_server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=200_000, help="approximate items")
    parser.add_argument("--endpoint", help="an S3-compatible endpoint to use instead of a local moto server")
    parser.add_argument("--bucket", help="an existing bucket (default: a new one)")
    args = parser.parse_args()
    moto = None
    if args.endpoint is None:
        moto, endpoint = start_moto()
        os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    else:
        endpoint = args.endpoint
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        import boto3

        bucket = args.bucket or f"ripple-bench-{uuid.uuid4().hex[:8]}"
        if args.bucket is None:
            boto3.client("s3").create_bucket(Bucket=bucket)
        local = e2e.run_size(args.items)
        os.environ["RIPPLE__LAKE__ROOT"] = f"s3://{bucket}/bench-{uuid.uuid4().hex[:8]}"
        remote = e2e.run_size(args.items)
    finally:
        os.environ.pop("RIPPLE__LAKE__ROOT", None)
        if moto is not None:
            moto.terminate()
            moto.wait(timeout=30)
    stages = sorted(set(local["seconds"]) | set(remote["seconds"]))
    print(f"{local['items']:,} items; seconds: local disk vs object store ({'moto' if moto else endpoint})")
    for stage in [*stages, "pipeline"]:
        key = "pipeline_seconds"
        a = local[key] if stage == "pipeline" else local["seconds"].get(stage)
        b = remote[key] if stage == "pipeline" else remote["seconds"].get(stage)
        ratio = f"{b / a:.2f}x" if a and b else ""
        print(f"  {stage:<10} {a if a is not None else '-':>8} {b if b is not None else '-':>8}  {ratio}")
    print(
        json.dumps(
            {"benchmark": "object_store", "items": local["items"], "local": local, "object_store": remote}
        )
    )


if __name__ == "__main__":
    main()
