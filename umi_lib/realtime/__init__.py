"""Stage 5: real-time rollouts against an offline ToolBench.

``catalog`` (endpoints and queries) · ``keys`` (argument keys, response envelopes) · ``store`` (recorded
responses) · ``dispatch`` (ToolBench's dispatcher and the miss policy) · ``virtual`` (the ``/virtual``
client and server) · ``toolnames`` · ``simulator`` · ``search`` (ReAct, DFSDT) · ``answers`` (ToolBench and
ToolEval files) · ``judge`` (pass and win rate) · ``run`` (``umi eval realtime``).
"""
