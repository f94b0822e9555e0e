"""Python's gear client against a job server.

Usage: gear_client.py HOST PORT FUNCTION UNIQUE PAYLOAD
Submits a foreground job and prints its handle's prefix ("HANDLE H:"), one
"DATA <chunk>" line per WORK_DATA or WORK_COMPLETE payload (gear keeps
both in job.data), then "COMPLETE" or "FAILURE". Exits 2 on a timeout.
"""

import sys
import time

import gear

DEADLINE_SECONDS = 30


def main():
    host, port, function, unique, payload = sys.argv[1:6]
    client = gear.Client("gear-client")
    client.addServer(host, int(port))
    client.waitForServer(timeout=DEADLINE_SECONDS)
    job = gear.Job(function.encode(), payload.encode(), unique=unique.encode())
    client.submitJob(job, timeout=DEADLINE_SECONDS)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not job.complete:
        if time.monotonic() > deadline:
            print("TIMEOUT", flush=True)
            client.shutdown()
            sys.exit(2)
        time.sleep(0.01)
    print("HANDLE " + job.handle.decode()[:2])
    for chunk in job.data:
        print("DATA " + chunk.decode())
    print("FAILURE" if job.failure else "COMPLETE", flush=True)
    client.shutdown()


if __name__ == "__main__":
    main()
