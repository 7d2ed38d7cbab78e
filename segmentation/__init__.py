"""Click-assisted segmentation (the Defect-Click flow of the review pages): clicks in, mask proposal out.

backends.py: the registry and the Click type; grabcut.py: the classical backend; services.py: request
checks and the call; api.py: the endpoint; evaluation.py: the NoC@IoU click simulator (benchmarks, tests).
"""
