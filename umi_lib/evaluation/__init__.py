"""Stage 4: static evaluation and its metrics.

``selection`` (a profile's test steps) · ``static`` (the resumable runner) · ``metrics`` (the paper's step
metrics) · ``rouge`` (ROUGE-L as ``rouge==1.0.1``) · ``bootstrap`` · ``score`` (``umi score``) ·
``model_free`` (oracle and degraded predictions) · ``paper`` (the paper's Table 1 and 2).
"""
