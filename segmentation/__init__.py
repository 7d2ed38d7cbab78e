"""Click-assisted segmentation (the Defect-Click flow of the review pages): clicks in, mask proposal out.

clicks.py: the Click type and the backend interface; grabcut.py: the classical backend; backends.py:
the registry; services.py: request checks and the call; api.py: the endpoint; evaluation.py: the
NoC@IoU click simulator (benchmarks, tests).
"""
