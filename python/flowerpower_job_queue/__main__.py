"""``python -m flowerpower_job_queue``: the queue's command line (``flowerpower-queue``).

Worker processes of a backend written in Python run as
``python -m flowerpower_job_queue worker start``: the engine's worker inside an
interpreter that can call the adapter (see :mod:`flowerpower_job_queue.workers`).

Example:
    $ python -m flowerpower_job_queue status --json
"""

from .cli import main

main()
