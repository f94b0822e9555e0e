"""Python's gear worker (it grabs with GRAB_JOB_UNIQ) against a job server,
until killed.

Usage: gear_worker.py HOST PORT FUNCTION
Per job: sends WORK_DATA "unique=<unique>", then WORK_DATA "got <payload>",
then completes with the payload upper-cased.
"""

import sys

import gear


def main():
    host, port, function = sys.argv[1:4]
    worker = gear.Worker("gear-worker")
    worker.addServer(host, int(port))
    worker.waitForServer()
    worker.registerFunction(function)
    while True:
        job = worker.getJob()
        unique = job.unique.decode() if job.unique is not None else ""
        job.sendWorkData(("unique=" + unique).encode())
        job.sendWorkData(b"got " + job.arguments)
        job.sendWorkComplete(job.arguments.upper())


if __name__ == "__main__":
    main()
