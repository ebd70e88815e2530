"""Stage 3: the agents. ``agents`` (α-UMi multi-LLM and single-LLM), ``backends`` (adapters on one base,
one model per role, vLLM, OpenAI-compatible endpoints), ``build`` (a system's agent from its trained adapters).
"""
