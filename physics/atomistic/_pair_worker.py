"""A host process that finds neighbour pairs: reads a pickled list of ``(positions, cell, pbc,
radius)`` on stdin, writes the pickled list of their pair lists on stdout.

:func:`physics.atomistic.neighbour_pairs` starts these with ``python -m`` rather than through
``multiprocessing``: a spawned ``multiprocessing`` worker re-imports the user's main script, which
re-runs it unless it is guarded by ``if __name__ == "__main__"``; forking a process that runs JAX's
threads is unsafe. A plain subprocess needs neither.
"""

import pickle
import sys

from physics.atomistic._neighbours import _pairs

if __name__ == "__main__":
    items = pickle.load(sys.stdin.buffer)
    pickle.dump([_pairs(*item) for item in items], sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
